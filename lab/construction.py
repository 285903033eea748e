"""Explicit one-hidden-layer ReLU networks for 2-AND and permutation: ground truth for the criterion.

Adler & Shavit (arXiv 2409.15318) prove their upper bounds with hand-built networks that we do not
have; these are our own, in the MaskedMLP format of lab.mlp (``w_in_DxN, b_in_N, w_out_NxK,
b_out_K``), so lab.criterion scores them exactly like trained networks. Inputs are raw (d = None).

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

Derivation (AND, exactly s active; q = w/n). The pair overlap is k ~ Hypergeom(n, w, w) ≈
Bin(n, q²), mean μ = n q². Given k, each other input that some output reads hits the shared set in
t ~ Hypergeom(n, k, w) ≈ Bin(k, q) neurons, independently across inputs; a near miss has
ν ~ Bin(s - 1, ρ) such inputs among its background (ρ = fraction of inputs in use), so the mean
near-miss rate is

    FPR(k) = E_ν P(Bin(ν k, q) >= k) <= exp(-k · h(λ)),  λ = (s - 1) q,  h(λ) = ln(1/λ) - 1 + λ

(Chernoff bound, Poisson limit). A pair is certified when its rate is <= ε_0; ε_0 ~ (δ/m')^{1/(εS+1)}
so ln(1/ε_0) grows like ln(m'/δ)/(εS + 1). This needs k >= k* = ln(1/ε_0)/h(λ) and, for the pairs to
keep that overlap, μ - O(√(μ ln m')) >= k*; since μ = n λ²/(s-1)², the width grows as

    n* = C (s - 1)² ln(m'/δ)   and the nonzero parameters as  m'(μ + 1) + w·m_used + n = O(m' log m').

The rate of one pair also varies with its code (one input i with a large t_abi makes every
background holding i fire), which the mean FPR(k) misses; the repair step absorbs those pairs, and
``stated_width`` sizes the network by simulating the per-pair rates (``bad_fraction``, exact rates
of R simulated pairs): n_stated = min over n_code of n_code + m' P_bad + 2 √(m' P_bad) + 1.
Constants (ε = 0.05, 64 samples, δ = 0.05): C ≈ 10 for s = 3 and 4 (≈ 5 for s = 2), e.g. n_stated =
393 and 513 at m = 512, m' = 1024 and 16384; the smallest widths that pass the criterion are 0.7-0.9
of n_stated (measurements in the README section on constructions). The width grows only
logarithmically in m',
far below the paper's O(√m' log m') neurons: the m' outputs here are raw, not in superposition, so
the output layer holds n·m' weights and the n² parameter count behind the Ω(√(m' log m')) neuron
bound does not bind; the O(m' log m') nonzero parameters meet the paper's Ω(m' log m') bound.
perm is the same with w in place of k and ν ~ Bin(s, ρ): n* = O(s log(m'/δ)).
Bernoulli inputs (s = None, p): ν ~ Bin(m_used - 2, p), same formulas.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special, stats

from lab.boolean_task import BooleanTask, sample_pairs
from lab.criterion import Criterion, class_probs, feature_scores, scored_exactly, success
from lab.mlp import param_count

SCHEMES = ("auto", "dedicated", "code", "hybrid")
DELTA = 0.05  # design target: probability that a random instance fails at the stated width


@dataclass(frozen=True)
class Design:
    """A random-code design at width n: column weight w and the mean-rate failure prediction."""

    n: int
    w: int  # neurons per used input
    p_feature: float  # P(one output fails the sampled test), from the mean rate FPR(k)
    p_instance: float  # P(more than the allowed outputs fail), outputs taken as independent


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
    """Params of a width-n network computing ``task`` on the outputs ``pairs_Kx2`` (lab.boolean_task).

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


def build_and(pairs_Kx2: jax.Array, m: int, s: int | None, n: int, key: jax.Array, *, p: float | None = None,
              scheme: str = "auto", w: int | None = None, criterion: Criterion = Criterion()) -> dict:
    """2-AND network of width n for the pairs (m', 2); exactly-s inputs (or Bernoulli p with s=None)."""
    return build(BooleanTask(m=m, op="and", s=s, p=p), pairs_Kx2, n, key, scheme=scheme, w=w, criterion=criterion)


def build_perm(pairs_Kx2: jax.Array, m: int, s: int | None, n: int, key: jax.Array, *, p: float | None = None,
               scheme: str = "auto", w: int | None = None, criterion: Criterion = Criterion()) -> dict:
    """Permutation network of width n; ``pairs_Kx2`` as lab.boolean_task.sample_pairs gives (both columns π(j))."""
    return build(BooleanTask(m=m, op="perm", s=s, p=p), pairs_Kx2, n, key, scheme=scheme, w=w, criterion=criterion)


def nonzero_params(params: dict) -> int:
    """Number of nonzero weights and biases (the paper's parameter count)."""
    return int(sum(np.count_nonzero(np.asarray(v)) for v in params.values()))


# ---------------------------------------------------------------- exact near-miss rates


def _negatives(task: BooleanTask) -> int:
    """Other active inputs in a negative's background: s - 1 (AND near miss) or s (perm all-off)."""
    return task.s - 1 if task.op == "and" else task.s


def _tail_rates(t_RxU: np.ndarray, inc_RxU: np.ndarray, k_R: np.ndarray, task: BooleanTask, extra_zero: int) -> np.ndarray:
    """P(Σ_{i∈B} t_i >= k) over a negative's background B, per row (R,).

    Items U with overlaps t (included where inc); ``extra_zero`` further inputs with t = 0 (unused).
    Exactly-s: B is a uniform r-subset of the included + extra inputs; Bernoulli: each is active with p.
    Knapsack DP on G[j, v] = #(j-subsets with sum >= v), sums capped at max k.
    """
    r_rows, u = t_RxU.shape
    kcap = int(max(k_R.max(initial=0), 1))
    v_V = np.arange(kcap + 1)
    rows = np.arange(r_rows)[:, None]
    if task.s is None:
        g_RxV = np.zeros((r_rows, kcap + 1))
        g_RxV[:, 0] = 1.0
        for i in range(u):
            idx = np.maximum(v_V[None, :] - t_RxU[:, i:i + 1], 0)
            pi = task.p * inc_RxU[:, i:i + 1]
            g_RxV = (1.0 - pi) * g_RxV + pi * g_RxV[rows, idx]
        return g_RxV[np.arange(r_rows), np.minimum(k_R, kcap)]
    r = _negatives(task)
    g = np.zeros((r_rows, r + 1, kcap + 1))
    g[:, 0, 0] = 1.0
    for i in range(u):
        idx = np.maximum(v_V[None, :] - t_RxU[:, i:i + 1], 0)
        inc = inc_RxU[:, i:i + 1].astype(np.float64)
        for j in range(r, 0, -1):
            g[:, j] += inc * g[:, j - 1][rows, idx]
    kk = np.minimum(k_R, kcap)
    hits = sum(g[np.arange(r_rows), j, kk] * special.comb(extra_zero, r - j) for j in range(r + 1))
    total = special.comb(inc_RxU.sum(axis=1) + extra_zero, r)
    return hits / np.maximum(total, 1.0)


def exact_fpr(task: BooleanTask, pairs_Kx2: jax.Array, code_MxN: jax.Array, read_KxN: jax.Array) -> np.ndarray:
    """Exact false-positive rate of each code output on the criterion's negatives, shape (K,).

    Negatives: near misses for AND (both share one background law), all-off for perm; backgrounds
    exclude the output's own inputs (as lab.criterion conditions). Outputs reading no neuron: 1.0.
    """
    code, read = np.asarray(code_MxN), np.asarray(read_KxN)
    t_KxM = np.rint(read @ code.T).astype(np.int64)
    k_K = np.rint(read.sum(axis=1)).astype(np.int64)
    pairs = np.asarray(pairs_Kx2)
    inc_KxM = np.ones_like(t_KxM, bool)
    inc_KxM[np.arange(len(pairs)), pairs[:, 0]] = False
    inc_KxM[np.arange(len(pairs)), pairs[:, 1]] = False
    fpr_K = _tail_rates(t_KxM, inc_KxM, k_K, task, 0)
    return np.where(k_K == 0, 1.0, fpr_K)


def class_target(task: BooleanTask, criterion: Criterion = Criterion()) -> float:
    """Largest negative-class false-positive rate of an output that keeps it computed.

    The criterion (lab.criterion) asks precision >= 1 - ε as well as per-class rates <= ε: with
    rate r on the negatives that ``exact_fpr`` counts (near misses for AND, all-off for perm),
    precision is P(pos) / (P(pos) + r·P(neg)), so r <= ε/(1 - ε) · P(pos)/P(neg); for AND a margin of
    0.8 leaves room for the rarer both-off false positives, which ``exact_fpr`` does not count.
    """
    distinct = task.op != "perm"
    p_A = class_probs(task, distinct=distinct)
    neg = p_A[1] + p_A[2] if distinct else p_A[0]
    margin = 0.8 if distinct else 1.0
    return min(criterion.epsilon, margin * criterion.epsilon / (1 - criterion.epsilon) * p_A[3] / neg)


def fail_probability(rate, task: BooleanTask, criterion: Criterion = Criterion()):
    """P(the criterion fails an output whose exact negative rate is ``rate``): a step at
    ``class_target`` when inputs are enumerated, a binomial tail when they are sampled."""
    target = class_target(task, criterion)
    if scored_exactly(task, criterion):
        return (np.asarray(rate) > target).astype(float)
    s_eff = valid_samples(task, criterion)
    return stats.binom.sf(int(math.floor(target * s_eff + 1e-9)), s_eff, rate)


def certified_rate(task: BooleanTask, m_out: int, criterion: Criterion = Criterion(), delta: float = DELTA) -> float:
    """Largest negative rate ε_0 with m' · P(the criterion fails an output of rate ε_0) <= δ/2."""
    if scored_exactly(task, criterion):
        return class_target(task, criterion)
    lo, hi = 0.0, class_target(task, criterion)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if m_out * fail_probability(mid, task, criterion) <= delta / 2 else (lo, mid)
    return lo


# ---------------------------------------------------------------- design


def expected_used(task: BooleanTask, m_out: int) -> float:
    """Expected number of inputs read by m' random outputs (distinct pairs, or m' distinct sources)."""
    if task.op == "perm":
        return float(m_out)
    return min(task.m * (1.0 - (1.0 - 2.0 / task.m) ** m_out), float(task.m))


def valid_samples(task: BooleanTask, criterion: Criterion) -> int:
    """Held-out negatives that count for an output (backgrounds that avoid its own inputs)."""
    own = task.arity
    if task.s is None:
        keep = (1.0 - task.p) ** own
    else:
        keep = math.comb(task.m - own, _negatives(task)) / math.comb(task.m, _negatives(task))
    return max(int(criterion.samples * keep), 1)


def _background_counts(task: BooleanTask, used: float) -> tuple[np.ndarray, np.ndarray]:
    """Law of ν, the number of *used* active inputs in a negative's background: (values, probs)."""
    own = task.arity
    if task.s is not None:
        rho = min(max(used - own, 0.0) / (task.m - own), 1.0)
        nu = np.arange(_negatives(task) + 1)
        return nu, stats.binom.pmf(nu, _negatives(task), rho)
    trials = max(int(round(used)) - own, 0)
    nu = np.arange(trials + 1)
    return nu, stats.binom.pmf(nu, trials, task.p)


def predicted_failure(task: BooleanTask, m_out: int, n: int, w: int, criterion: Criterion = Criterion(),
                      used: float | None = None) -> Design:
    """Failure of the plain code predicted from the mean rate FPR(k) (module docstring)."""
    used = expected_used(task, m_out) if used is None else used
    q = w / n
    nu_V, p_V = _background_counts(task, used)
    if task.op == "and":
        k_K = np.arange(w + 1)
        p_K = stats.hypergeom.pmf(k_K, n, w, w)
    else:
        k_K, p_K = np.array([w]), np.array([1.0])
    fpr_K = (p_V[None, :] * stats.binom.sf(k_K[:, None] - 1, nu_V[None, :] * k_K[:, None], q)).sum(axis=1)
    fpr_K = np.where(k_K == 0, 1.0, np.clip(fpr_K, 0.0, 1.0))
    p_feature = float(np.sum(p_K * fail_probability(fpr_K, task, criterion)))
    allowed_out = int(math.floor((1.0 - criterion.fraction) * m_out + 1e-9))
    return Design(n=n, w=w, p_feature=p_feature, p_instance=float(stats.binom.sf(allowed_out, m_out, p_feature)))


@functools.lru_cache(maxsize=4096)
def design(task: BooleanTask, m_out: int, n: int, criterion: Criterion = Criterion(), used: float | None = None) -> Design:
    """The column weight w that minimises the predicted failure at width n (grid, then refined)."""
    cands = np.unique(np.clip(np.round(np.geomspace(1, max(n // 2, 1), 40)).astype(int), 1, n))
    best = min((predicted_failure(task, m_out, n, int(w), criterion, used) for w in cands), key=lambda d: (d.p_feature, d.w))
    near = range(max(1, int(best.w * 0.85)), min(n, int(math.ceil(best.w * 1.15)) + 1) + 1)
    return min([best] + [predicted_failure(task, m_out, n, w, criterion, used) for w in near],
               key=lambda d: (d.p_feature, d.w))


def bad_fraction(task: BooleanTask, m_out: int, n: int, w: int, eps0: float, reps: int = 400, seed: int = 0) -> float:
    """Fraction of outputs whose exact near-miss rate exceeds ε_0, from ``reps`` simulated outputs.

    Simulates an output's code as the construction draws it (k ~ Hypergeom(n, w, w), each used other
    input t ~ Hypergeom(n, k, w)) and computes its exact rate with the same DP as ``exact_fpr``.
    """
    rng = np.random.default_rng(seed)
    used = int(round(expected_used(task, m_out)))
    others = max(used - task.arity, 0)
    extra = task.m - task.arity - others if task.s is not None else 0
    k_R = rng.hypergeometric(w, n - w, w, size=reps) if task.op == "and" else np.full(reps, w)
    t_RxU = rng.hypergeometric(np.broadcast_to(k_R[:, None], (reps, others)),
                               np.broadcast_to(n - k_R[:, None], (reps, others)), w) if others else np.zeros((reps, 0), int)
    fpr_R = _tail_rates(t_RxU, np.ones_like(t_RxU, bool), k_R, task, extra)
    return float(np.mean(np.where(k_R == 0, 1.0, fpr_R) > eps0))


def stated_width(task: BooleanTask, m_out: int, criterion: Criterion = Criterion(), delta: float = DELTA,
                 scheme: str = "auto") -> int:
    """The width at which the construction is designed to pass (hybrid: n_code + expected repairs).

    ``dedicated``: m'. ``hybrid``/``auto``: min over n_code of n_code + m' P_bad + 2 √(m' P_bad) + 1,
    capped at m' (``auto``). ``code``: smallest n with predicted instance failure <= δ (mean-rate model;
    optimistic, see module docstring).
    """
    if scheme == "dedicated":
        return m_out
    if scheme == "code":
        ok = lambda n: design(task, m_out, n, criterion).p_instance <= delta  # noqa: E731
        hi = 8
        while not ok(hi):
            hi *= 2
            if hi > 1 << 20:
                raise ValueError("no code width found below 2^20")
        lo = hi // 2 if hi > 8 else 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if ok(mid) else (mid, hi)
        return hi
    eps0 = certified_rate(task, m_out, criterion, delta)
    cap = m_out if scheme == "auto" else 1 << 20
    best = cap
    for n_code in np.unique(np.round(np.geomspace(8, max(8 * 64, 4 * m_out), 40)).astype(int)):
        if n_code >= best:
            break
        bad = m_out * bad_fraction(task, m_out, int(n_code), design(task, m_out, int(n_code), criterion).w, eps0)
        best = min(best, int(math.ceil(n_code + bad + 2.0 * math.sqrt(bad) + 1)))
    return best


# ---------------------------------------------------------------- measurement with the criterion


def instance_keys(seed: int) -> dict[str, jax.Array]:
    """Independent keys of one random instance: the outputs (pairs), the code, the evaluation."""
    root = jax.random.key(seed)
    return {name: jax.random.fold_in(root, i) for i, name in enumerate(("task", "code", "eval"))}


def evaluate(params: dict, task: BooleanTask, pairs_Kx2: jax.Array, key: jax.Array,
             criterion: Criterion = Criterion()) -> dict:
    """The criterion's verdict on a constructed network: success, frac_ok, fnr_max, fpr_max (floats).

    The network is padded with masked zero neurons to the next power of two, as a MaskedMLP bucket
    is, so that a search over widths compiles the criterion for a few shapes only.
    """
    n = params["b_in_N"].shape[0]
    extra = (1 << max(n - 1, 1).bit_length()) - n
    padded = {
        "w_in_DxN": jnp.pad(params["w_in_DxN"], ((0, 0), (0, extra))),
        "b_in_N": jnp.pad(params["b_in_N"], (0, extra)),
        "w_out_NxK": jnp.pad(params["w_out_NxK"], ((0, extra), (0, 0))),
        "b_out_K": params["b_out_K"],
    }
    scores = feature_scores(padded, jnp.int32(n), pairs_Kx2, task, None, key, criterion)
    return {name: float(v) for name, v in success(scores, jnp.int32(pairs_Kx2.shape[0]), criterion).items()}


def passes(task: BooleanTask, m_out: int, n: int, seeds=(0, 1, 2), criterion: Criterion = Criterion(),
           scheme: str = "auto", stop_on_failure: bool = False) -> list[dict]:
    """Build and score the construction at width n on one random instance per seed."""
    out = []
    for seed in seeds:
        keys = instance_keys(seed)
        pairs_Kx2 = sample_pairs(keys["task"], task, m_out)
        params = build(task, pairs_Kx2, n, keys["code"], scheme=scheme, criterion=criterion)
        out.append({"seed": seed, **evaluate(params, task, pairs_Kx2, keys["eval"], criterion),
                    "params": nonzero_params(params)})
        if stop_on_failure and not out[-1]["success"]:
            break
    return out


def min_width(m: int, s: int | None, m_out: int, op: str = "and", seeds=(0, 1, 2), criterion: Criterion = Criterion(),
              *, p: float | None = None, scheme: str = "auto", tol: float = 0.03) -> int:
    """Smallest n at which the construction passes the criterion on every seed's random instance.

    Search: from the stated width, grow by 1.5x until it passes, halve until it fails, then bisect to
    a relative tolerance ``tol``. Random constructions are not strictly monotone in n, so this is the
    smallest passing width the search met, the tested widths below it all failing.
    """
    return _search(BooleanTask(m=m, op=op, s=s, p=p), m_out, tuple(seeds), criterion, scheme, tol)["n_min"]


def _search(task: BooleanTask, m_out: int, seeds: tuple, criterion: Criterion, scheme: str, tol: float) -> dict:
    tried: dict[int, list[dict]] = {}

    def ok(n):
        if n not in tried:
            tried[n] = passes(task, m_out, n, seeds, criterion, scheme, stop_on_failure=True)
        return all(r["success"] for r in tried[n])

    cap = m_out if scheme in ("auto", "dedicated") else 1 << 16
    hi = min(stated_width(task, m_out, criterion, scheme=scheme), cap)
    while not ok(hi):
        if hi >= cap:
            raise RuntimeError(f"construction fails even at n = {hi} for {task}, m' = {m_out}")
        hi = min(cap, int(math.ceil(hi * 1.5)))
    lo = 0
    while hi > 1:
        if not ok(hi // 2):
            lo = hi // 2
            break
        hi //= 2
    while hi - lo > max(1, int(tol * hi)):
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return {"n_min": hi, "n_fail": lo, "tried": tried}


def measure(m: int, s: int | None, m_outs, op: str = "and", seeds=(0, 1, 2), criterion: Criterion = Criterion(),
            *, p: float | None = None, scheme: str = "auto", tol: float = 0.03, on_row=None) -> list[dict]:
    """One row per m': smallest working width n_min, its parameter counts, the stated width.

    ``on_row(row)`` is called as each row is measured (progress).
    """
    task = BooleanTask(m=m, op=op, s=s, p=p)
    rows = []
    for m_out in (int(v) for v in m_outs):
        found = _search(task, m_out, tuple(seeds), criterion, scheme, tol)
        n_min = found["n_min"]
        at_min = found["tried"][n_min]
        kind = "dedicated" if scheme == "dedicated" or (scheme == "auto" and n_min >= m_out) else (
            "code" if scheme == "code" else "hybrid")
        rows.append({
            "m": m, "s": s, "p": p, "op": op, "m_out": m_out, "n_min": n_min, "n_fail": found["n_fail"],
            "n_stated": stated_width(task, m_out, criterion, scheme=scheme), "scheme": kind,
            "params": int(round(float(np.mean([r["params"] for r in at_min])))),
            "dense_params": param_count(m, n_min, m_out),
            "frac_ok": float(np.min([r["frac_ok"] for r in at_min])),
            "seeds": len(seeds), "evaluations": sum(len(v) for v in found["tried"].values()),
            "epsilon": criterion.epsilon, "fraction": criterion.fraction, "samples": criterion.samples,
        })
        if on_row is not None:
            on_row(rows[-1])
    return rows


def overlay(rows: list[dict]) -> dict:
    """The capacity figure's overlay: extra["construction"] = {"n": [...], "m_out": [...]}.

    Capacity of the construction at width n = the largest m' whose construction fits in n neurons,
    so a point (n_min(m'), m') is kept unless a larger m' fits in as few neurons.
    """
    keep, best = [], math.inf
    for m_out, n in sorted(((r["m_out"], r["n_min"]) for r in rows), reverse=True):
        if n < best:
            keep.append((n, m_out))
            best = n
    keep.sort()
    return {"n": [n for n, _ in keep], "m_out": [k for _, k in keep]}


def format_table(rows: list[dict]) -> str:
    """Plain-text table of ``measure`` rows."""
    lines = [f"{'op':>5} {'m':>5} {'m_out':>7} {'n_min':>6} {'n_fail':>6} {'n_stated':>8} {'scheme':>9} "
             f"{'params':>8} {'dense':>9}"]
    for r in rows:
        lines.append(f"{r['op']:>5} {r['m']:>5} {r['m_out']:>7} {r['n_min']:>6} {r['n_fail']:>6} {r['n_stated']:>8} "
                     f"{r['scheme']:>9} {r['params']:>8} {r['dense_params']:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`lab construct`: smallest working construction across m'; prints a table, writes JSON.

    Arguments: --m 64 --s 3 (--s 0 --p 0.05 for Bernoulli) --op and|perm --m-out 16,64,256
    --seeds 3 --scheme auto|hybrid|code|dedicated [--epsilon --fraction --samples: the criterion's]
    --out construction.json [--figure DIR]. The JSON is {"rows": [...], "construction": overlay(rows)}.
    """
    from lab.cli import add_construct_arguments

    args = add_construct_arguments(argparse.ArgumentParser(prog="lab construct", description=main.__doc__.splitlines()[0])).parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Measure the constructions chosen by the parsed options of `lab construct`."""
    s = None if args.s == 0 else args.s
    task = BooleanTask(m=args.m, op=args.op, s=s, p=args.p)
    m_outs = sorted({min(int(v), task.max_outputs) for v in args.m_out.split(",") if v.strip()})
    given = {k: getattr(args, k) for k in ("epsilon", "fraction", "samples") if getattr(args, k) is not None}
    criterion = Criterion(**given)
    rows = measure(args.m, s, m_outs, args.op, tuple(range(args.seeds)), criterion, p=args.p, scheme=args.scheme,
                   on_row=lambda r: print(f"m'={r['m_out']}: n_min={r['n_min']} ({r['evaluations']} evaluations)",
                                          file=sys.stderr, flush=True))
    print(format_table(rows))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"rows": rows, "construction": overlay(rows)}, indent=1))
        print(f"wrote {args.out}", file=sys.stderr)
    if args.figure:
        from lab.plots import construction as plot

        for path in plot.figures([], None, Path(args.figure), {"construction_rows": rows}):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
