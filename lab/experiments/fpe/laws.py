"""Candidate laws of the FPE lab: clause capacity K* (the most clauses a network still computes to
the [success] level) against the dense width n, with or without a gain per split arm.

FPE has no capacity theorem (arXiv 2510.04500 is empirical): these laws describe, they do not test
a bound. ``fpe_shared`` is the null hypothesis that the split does not change the capacity;
``fpe_arms`` gives every arm its own multiplicative gain g over the dense network (g_dense = 1), so
QAIC between the two asks whether splitting changes the clause capacity, and g is its size.
"""

from __future__ import annotations

import numpy as np

from lab.experiments.fpe.member import SPLITS
from lab.laws import Law, register

GAINS = tuple(f"g_{s}" for s in SPLITS[1:])  # g_random, g_clause, g_gram


def gain(split: np.ndarray, p) -> np.ndarray:
    """The arm's gain g (1 for the dense network) for an array of split indices."""
    out = np.ones_like(np.asarray(split, dtype=float))
    for i, name in enumerate(SPLITS[1:], start=1):
        out = np.where(np.asarray(split) == i, p[f"g_{name}"], out)
    return out


_COV = ("n", "split")
register(Law("fpe_shared", "c·n", ("c",), _COV, lambda v, p: p["c"] * v["n"]))
_STARTS = {g: (1.0, 2.0) for g in GAINS}  # no gain, and a doubling
register(Law("fpe_arms", "c·n·g_split", ("c", *GAINS), _COV, lambda v, p: p["c"] * v["n"] * gain(v["split"], p),
             positive=("c", *GAINS), starts=_STARTS))
register(Law("fpe_arms_power", "c·n^β·g_split", ("c", "beta", *GAINS), _COV,
             lambda v, p: p["c"] * v["n"] ** p["beta"] * gain(v["split"], p), positive=("c", *GAINS),
             starts={**_STARTS, "beta": (0.5, 1.5)}))

LAWS = ("fpe_arms", "fpe_shared", "fpe_arms_power")
