"""Candidate laws of the memorisation lab: examples N* that h heads with context n memorise.

Mahdavi, Liao & Thrampoulidis (arXiv 2306.02010) prove that a layer with h heads, context n < d and
head dimension d_h memorises Ω(h·min(n, d_h)) examples under their linear-independence assumptions,
with Θ(h·d·(d_h + d_v)) parameters, and report memorisation growing linearly in h and monotonically
in n (their Fig. 2). The alternatives: heads alone, the parameter count, free exponents.
"""

from __future__ import annotations

import numpy as np

from lab.experiments.memorization.member import parameter_count
from lab.laws import Law, register

_ALL = ("h", "context", "d_model", "dh", "d_in", "classes")
register(Law("mem_hn", "c·h·min(n, d_h)", ("c",), ("h", "context", "dh"),
             lambda v, p: p["c"] * v["h"] * np.minimum(v["context"], v["dh"])))
register(Law("mem_h", "c·h", ("c",), ("h",), lambda v, p: p["c"] * v["h"]))
register(Law("mem_params", "c·parameters", ("c",), _ALL,
             lambda v, p: p["c"] * parameter_count(v["h"], v["d_model"], v["dh"], v["d_in"], v["classes"])))
register(Law("mem_power", "c·h^α·n^β", ("c", "alpha", "beta"), ("h", "context"),
             lambda v, p: p["c"] * v["h"] ** p["alpha"] * v["context"] ** p["beta"],
             starts={"alpha": (0.5, 1.5), "beta": (0.3, 1.0)}))

# with one context size the n exponent is not identified: the heads exponent alone
register(Law("mem_power_h", "c·h^α", ("c", "alpha"), ("h",), lambda v, p: p["c"] * v["h"] ** p["alpha"],
             starts={"alpha": (0.5, 1.5)}))

LAWS = ("mem_hn", "mem_h", "mem_params", "mem_power", "mem_power_h")
