"""Candidate laws of the attention lab: total key dimension D_K* for m' relations in d_model
dimensions (arXiv 2509.22840: Θ(m' log m' / d_model)), the information count and the alternatives."""

from __future__ import annotations

import numpy as np
from scipy import special

from lab.laws import Law, register

log = np.log
_MD = ("m_edges", "d_model")
register(Law("mlogm_over_d", "c·m'·log m'/d_model", ("c",), _MD, lambda v, p: p["c"] * v["m_edges"] * log(v["m_edges"]) / v["d_model"]))
register(
    Law(
        "mlogm_over_d_icpt", "c·m'·log m'/d_model + b", ("c", "b"), _MD,
        lambda v, p: p["c"] * v["m_edges"] * log(v["m_edges"]) / v["d_model"] + p["b"],
        starts={"b": (-0.3, 0.0, 0.3)}, data_scaled=("b",),
    )
)
register(Law("m_over_d", "c·m'/d_model", ("c",), _MD, lambda v, p: p["c"] * v["m_edges"] / v["d_model"]))


def log_graphs(m_edges: np.ndarray, m: np.ndarray) -> np.ndarray:
    """ln C(m², m'): the information (nats) in which m' of the m² ordered pairs are edges."""
    n = np.square(m)
    return special.gammaln(n + 1) - special.gammaln(m_edges + 1) - special.gammaln(n - m_edges + 1)


# the counting bound itself: D_K·d_model weights must name one graph among C(m², m') (for m' << m²
# this is m'·(1 + ln(m²/m')), which differs from m' ln m' through the graph's density)
register(Law("info_over_d", "c·ln C(m², m')/d_model", ("c",), ("m_edges", "d_model", "m"),
             lambda v, p: p["c"] * log_graphs(v["m_edges"], v["m"]) / v["d_model"]))
register(
    Law(
        "power2", "c·m'^α/d_model^β", ("c", "alpha", "beta"), _MD,
        lambda v, p: p["c"] * v["m_edges"] ** p["alpha"] / v["d_model"] ** p["beta"],
        starts={"alpha": (0.7, 1.3), "beta": (0.5, 1.5)},
    )
)

LAWS = ("mlogm_over_d", "info_over_d", "m_over_d", "mlogm_over_d_icpt", "power2")
