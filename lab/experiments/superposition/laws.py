"""Candidate laws of the superposition lab: capacity m'*(n) at width n (arXiv 2409.15318 bounds it by
O(n²/log n); the others are the alternatives a referee asks for)."""

from __future__ import annotations

import numpy as np

from lab.laws import Law, register

log = np.log
register(Law("n2_over_log", "c·n²/log n", ("c",), ("n",), lambda v, p: p["c"] * v["n"] ** 2 / log(v["n"])))
register(Law("power", "c·n^α", ("c", "alpha"), ("n",), lambda v, p: p["c"] * v["n"] ** p["alpha"], starts={"alpha": (0.5, 1.5, 2.5)}))
register(Law("n2", "c·n²", ("c",), ("n",), lambda v, p: p["c"] * v["n"] ** 2))
register(Law("n_log_n", "c·n·log n", ("c",), ("n",), lambda v, p: p["c"] * v["n"] * log(v["n"])))
register(Law("linear", "c·n", ("c",), ("n",), lambda v, p: p["c"] * v["n"]))

LAWS = ("n2_over_log", "power", "n2", "n_log_n", "linear")
