"""Explicit one-hidden-layer ReLU networks for 2-AND and permutation: ground truth for the criterion.

Adler & Shavit (arXiv 2409.15318) prove their upper bounds with hand-built networks that we do not
have; these are our own, in the MaskedMLP format of lab.experiments.superposition.mlp (``w_in_DxN, b_in_N, w_out_NxK,
b_out_K``), so lab.experiments.superposition.scoring scores them exactly like trained networks. Inputs are raw (d = None).

Schemes (``auto``: ``dedicated`` when n >= m', else ``hybrid``):

- ``dedicated``: one neuron per output. AND: h_j = relu(x_a + x_b - 1); perm: h_j = relu(x_π(j));
  out_j = 2 h_j - 1. Exact on every input; n = m'.
- ``code`` (random sparse code): every input that some output reads is written, weight 1, to
  exactly w of the n neurons (its set S_i, a uniform w-subset).
  AND: bias -1, so h_u = (#active inputs of u - 1)_+ fires only when >= 2 of its inputs are on.
  Output (a, b) reads the k_ab = |S_a ∩ S_b| neurons the pair shares: out = Σ_{u∈S_a∩S_b} h_u -
  (k_ab - 1/2). With a and b on every shared neuron has h_u >= 1, so out >= 1/2: **no false
  negative on any input** (k_ab >= 1). On a near miss (a on, b off, background B of other active
  inputs) a shared neuron holds h_u = #{i ∈ B: u ∈ S_i}, so out > 0 iff
  T_ab(B) = Σ_{i∈B} t_abi >= k_ab with t_abi = |S_a ∩ S_b ∩ S_i|. k_ab - 1/2 is the largest
  threshold without false negatives, hence the best one.
  perm: bias 0, h_u = #active inputs of u, out_j = Σ_{u∈S_π(j)} h_u - (w - 1/2); a positive never
  fails, a negative fires iff Σ_{i∈B} |S_π(j) ∩ S_i| >= w.
- ``hybrid`` (the default below m'): a code on n_code neurons plus one dedicated neuron for each
  output whose exact near-miss rate (``exact_fpr``: exact over the input distribution, given the
  code) exceeds ε_0; n = n_code + #repaired. Every output is then *certified*: no false negative
  and a near-miss rate <= ε_0, chosen so that the criterion's sampled test (S held-out backgrounds,
  at most ε S may fire) fails any of the m' outputs with probability <= δ/2:
  m' · P(Bin(S, ε_0) > ε S) <= δ/2 (``certified_rate``).

The widths these schemes need are derived in lab.experiments.superposition.theory; the smallest working
width is searched and measured by lab.experiments.superposition.search.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from lab.experiments.superposition.task import BooleanTask
from lab.experiments.superposition.criterion import Criterion
from lab.experiments.superposition.theory import DELTA, certified_rate, design, exact_fpr

SCHEMES = ("auto", "dedicated", "code", "hybrid")


# ---------------------------------------------------------------- constructions


def used_inputs(pairs_Kx2, m: int) -> np.ndarray:
    """Boolean (m,): inputs that some output reads."""
    used_M = np.zeros(m, bool)
    used_M[np.asarray(pairs_Kx2).reshape(-1)] = True
    return used_M


def random_code(key: jax.Array, used_M, n: int, w: int) -> np.ndarray:
    """0/1 incidence (m, n): each used input in exactly w uniformly chosen neurons, unused rows 0.

    Drawn by numpy from the key's bits (one stream per key): a jax draw would compile per width.
    """
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist() + [n, w])
    u_MxN = rng.random((len(used_M), n))
    idx_MxW = np.argpartition(-u_MxN, w - 1, axis=1)[:, :w]
    code_MxN = np.zeros((len(used_M), n), np.float32)
    np.put_along_axis(code_MxN, idx_MxW, 1.0, axis=1)
    return code_MxN * np.asarray(used_M, np.float32)[:, None]


def code_readout(task: BooleanTask, pairs_Kx2, code_MxN) -> np.ndarray:
    """Neurons each output reads, 0/1 (K, n): S_a ∩ S_b for AND, S_π(j) for perm."""
    pairs, code = np.asarray(pairs_Kx2), np.asarray(code_MxN)
    read_KxN = code[pairs[:, 0]]
    return read_KxN * code[pairs[:, 1]] if task.op == "and" else read_KxN


def dedicated(pairs_Kx2, m: int, n: int, op: str) -> dict:
    """One neuron per output (n >= m'): exact AND (bias -1) or copy (bias 0); neurons >= m' are zero."""
    k = len(pairs_Kx2)
    if n < k:
        raise ValueError(f"the dedicated construction needs n >= m' = {k}, got n = {n}")
    return _assemble(np.zeros((m, 0), np.float32), np.zeros((k, 0), np.float32), pairs_Kx2, np.ones(k, bool), n, op)


def _assemble(code_MxC, read_KxC, pairs_Kx2, repair_K, n: int, op: str) -> dict:
    """Params: C code neurons, then one dedicated neuron per repaired output, then zero neurons to n."""
    pairs = np.asarray(pairs_Kx2)
    (m, c), k = code_MxC.shape, len(pairs)
    rep_idx = np.flatnonzero(repair_K)
    if c + rep_idx.size > n:
        raise ValueError(f"{c} code + {rep_idx.size} dedicated neurons exceed n = {n}")
    cols = c + np.arange(rep_idx.size)
    bias = -1.0 if op == "and" else 0.0
    w_in = np.zeros((m, n), np.float32)
    w_in[:, :c] = code_MxC
    w_in[pairs[rep_idx, 0], cols] = 1.0
    w_in[pairs[rep_idx, 1], cols] = 1.0
    b_in = np.zeros(n, np.float32)
    b_in[: c + rep_idx.size] = bias
    keep_K = ~np.asarray(repair_K, bool)
    w_out = np.zeros((n, k), np.float32)
    w_out[:c] = (read_KxC * keep_K[:, None]).T
    w_out[cols, rep_idx] = 2.0
    b_out = np.where(keep_K, 0.5 - read_KxC.sum(axis=1), -1.0).astype(np.float32)
    return {name: jnp.asarray(v) for name, v in
            (("w_in_DxN", w_in), ("b_in_N", b_in), ("w_out_NxK", w_out), ("b_out_K", b_out))}


def build(task: BooleanTask, pairs_Kx2: jax.Array, n: int, key: jax.Array, *, scheme: str = "auto",
          w: int | None = None, criterion: Criterion = Criterion(), delta: float = DELTA) -> dict:
    """Params of a width-n network computing ``task`` on the outputs ``pairs_Kx2`` (lab.experiments.superposition.task).

    ``w`` (code column weight) defaults to ``design``'s choice. ``hybrid`` tries code widths
    n_code < n and repairs the worst outputs with the remaining neurons (module docstring).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if task.op not in ("and", "perm"):
        raise ValueError(f"constructions exist for op 'and' and 'perm', got {task.op!r}")
    if task.d is not None:
        raise ValueError("constructions take raw inputs (d = None)")
    pairs_Kx2 = np.asarray(pairs_Kx2)
    k = len(pairs_Kx2)
    if scheme == "dedicated" or (scheme == "auto" and n >= k):
        return dedicated(pairs_Kx2, task.m, n, task.op)
    used_M = used_inputs(pairs_Kx2, task.m)

    def code(n_code):
        ww = design(task, k, n_code, criterion, used=float(used_M.sum())).w if w is None else min(w, n_code)
        code_MxN = random_code(key, used_M, n_code, ww)
        return code_MxN, code_readout(task, pairs_Kx2, code_MxN)

    if scheme == "code":
        code_MxN, read_KxN = code(n)
        return _assemble(code_MxN, read_KxN, pairs_Kx2, np.zeros(k, bool), n, task.op)
    eps0 = certified_rate(task, k, criterion, delta)
    best = None
    n_code = n
    for _ in range(6):  # fixed point of n_code = n - #bad(n_code), keeping the fewest unrepaired
        code_MxN, read_KxN = code(n_code)
        fpr_K = exact_fpr(task, pairs_Kx2, code_MxN, read_KxN)
        order = np.argsort(-fpr_K, kind="stable")
        n_bad = int((fpr_K > eps0).sum())
        budget = n - n_code
        repair_K = np.zeros(k, bool)
        repair_K[order[: min(budget, k)]] = True
        repair_K &= fpr_K > eps0
        cand = (max(n_bad - budget, 0), -n_code, code_MxN, read_KxN, repair_K)
        if best is None or cand[:2] < best[:2]:
            best = cand
        if n_bad <= budget or n_code <= 1:
            break
        n_code = max(1, n - int(math.ceil(1.15 * n_bad)) - 1)
        if n_code < 8:
            break
    _, _, code_MxN, read_KxN, repair_K = best
    return _assemble(code_MxN, read_KxN, pairs_Kx2, repair_K, n, task.op)


def nonzero_params(params: dict) -> int:
    """Number of nonzero weights and biases (the paper's parameter count)."""
    return int(sum(np.count_nonzero(np.asarray(v)) for v in params.values()))
