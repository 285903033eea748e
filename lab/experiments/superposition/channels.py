"""Feature channels read statically from the sign pattern of a network's weights and biases.

Combinatorial interpretability (Adler, Alistarh & Shavit, arXiv 2504.08842) reads a trained network
from the sign-based categorisation of its weights and biases (+, −, ~0) and explains a Boolean
feature such as x_a AND x_b by its *feature channel*: the neurons on which the codes of its inputs
agree. Channels share neurons, so neurons are polysemantic and channels interfere. Here, for a
one-hidden-layer network read over features (``net``: ``w_in_MxN`` row i = what input feature i puts
on each neuron, ``b_in_N``, ``w_out_NxK`` column j = how output feature j reads each neuron):

- **sign pattern** (``sign_pattern``): a weight is ~0 when |w| <= tol · the largest |w| of the vector
  it belongs to, else + or −. The vectors are an input's row of w_in (its *code*), an output's
  column of w_out (its *readout*), and for a bias the neuron's column of w_in (so a bias is ~0 when
  small next to the neuron's largest input weight). The scale is per vector, not per matrix: a few
  large weights elsewhere in the layer do not erase a feature's whole code.
- **channel** of feature j = (a, b) (``channels``): C_j = {u : code_a(u) = code_b(u) = + and
  readout_j(u) = +}, the neurons on which a and b share the positive sign and through which
  output j reads them. A permutation output (a = b) has the channel of its one input.
- **statistics** (``channel_stats``): per feature its size |C_j| (neurons per feature), *leak* (neurons
  read + by j on which exactly one of a, b is +: the paths by which a near miss reaches the output),
  *containment* max_{k≠j} |C_j ∩ C_k| / |C_j| (1: the channel lies inside another's, or is empty),
  *private* neurons (in no other channel) and the mean *load* of its neurons; per neuron its load,
  the number of channels it belongs to (features per neuron: polysemanticity).

Where this differs from the paper: its full definitions were not available to us, only its
abstract and secondary summaries (features computed through channels of neurons that their inputs'
codes share; a near-zero sign class). The per-vector tolerance, the requirement that the output
read the channel positively, and the statistics above are ours. For the lab's explicit
constructions (lab.experiments.superposition.construction) the reading is exact: a dedicated
network's channel is the feature's own neuron, a code's is S_a ∩ S_b (tests/test_interpret.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOL = 0.1  # a weight is ~0 when |w| <= TOL · the largest |w| of its vector


def ternary(x: np.ndarray, tol: float = TOL, *, axis: int | None = None, scale: np.ndarray | None = None) -> np.ndarray:
    """Signs +1 / −1 / 0 (int8) of ``x``, 0 where |x| <= tol · scale (default: max |x| along ``axis``)."""
    x = np.asarray(x, np.float64)
    scale = np.abs(x).max(axis=axis, keepdims=True) if scale is None else np.asarray(scale, np.float64)
    return ((x > tol * scale).astype(np.int8) - (x < -tol * scale).astype(np.int8))


@dataclass(frozen=True)
class SignPattern:
    """The ternary reading of a network: input codes (M, N), bias signs (N,), output readouts (N, K)."""

    code_MxN: np.ndarray
    bias_N: np.ndarray
    readout_NxK: np.ndarray
    tol: float


def sign_pattern(net: dict, tol: float = TOL) -> SignPattern:
    """The sign pattern of ``net`` (module docstring): per input row, per output column, per neuron."""
    w_MxN = np.asarray(net["w_in_MxN"], np.float64)
    return SignPattern(
        code_MxN=ternary(w_MxN, tol, axis=1),
        bias_N=ternary(net["b_in_N"], tol, scale=np.abs(w_MxN).max(axis=0) if w_MxN.size else 0.0),
        readout_NxK=ternary(net["w_out_NxK"], tol, axis=0),
        tol=tol,
    )


def channels(pattern: SignPattern, pairs_Kx2) -> np.ndarray:
    """C (K, N) bool: neuron u is in feature j's channel (module docstring)."""
    pairs = np.asarray(pairs_Kx2)
    pos_MxN = pattern.code_MxN > 0
    return pos_MxN[pairs[:, 0]] & pos_MxN[pairs[:, 1]] & (pattern.readout_NxK.T > 0)


def channel_stats(pattern: SignPattern, pairs_Kx2) -> dict[str, np.ndarray]:
    """Per feature (K,): size, leak, containment, private, load; per neuron (N,): load_N; and C_KxN."""
    pairs = np.asarray(pairs_Kx2)
    c_KxN = channels(pattern, pairs)
    pos_MxN = pattern.code_MxN > 0
    read_KxN = pattern.readout_NxK.T > 0
    size_K = c_KxN.sum(1)
    load_N = c_KxN.sum(0)
    inter_KxK = c_KxN.astype(np.int64) @ c_KxN.T.astype(np.int64)
    np.fill_diagonal(inter_KxK, 0)
    shared_K = inter_KxK.max(1) if len(pairs) > 1 else np.zeros(len(pairs), np.int64)
    containment_K = np.where(size_K > 0, shared_K / np.maximum(size_K, 1), 1.0)
    return {
        "size": size_K,
        "leak": ((pos_MxN[pairs[:, 0]] ^ pos_MxN[pairs[:, 1]]) & read_KxN).sum(1),
        "containment": containment_K,
        "private": (c_KxN & (load_N == 1)).sum(1),
        "load": np.where(size_K > 0, (c_KxN * load_N).sum(1) / np.maximum(size_K, 1), 0.0),
        "load_N": load_N,
        "C_KxN": c_KxN,
    }


def summary(stats: dict[str, np.ndarray]) -> dict[str, float]:
    """Network-level numbers: mean neurons per feature and features per neuron (over all neurons, and
    over the neurons in some channel), mean containment, share of empty channels."""
    size, load = stats["size"], stats["load_N"]
    used = load[load > 0]
    return {
        "neurons_per_feature": float(size.mean()) if size.size else 0.0,
        "features_per_neuron": float(load.mean()) if load.size else 0.0,
        "features_per_used_neuron": float(used.mean()) if used.size else 0.0,
        "containment": float(stats["containment"].mean()) if size.size else 0.0,
        "empty": float((size == 0).mean()) if size.size else 0.0,
    }
