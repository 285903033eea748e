"""Exact near-miss rates of the random-code construction and the width it needs (the theory behind
lab.experiments.superposition.construction).

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

import functools
import math
from dataclasses import dataclass

import jax
import numpy as np
from scipy import special, stats

from lab.experiments.superposition.criterion import Criterion, scored_exactly
from lab.experiments.superposition.scoring import class_probs
from lab.experiments.superposition.task import BooleanTask

DELTA = 0.05  # design target: probability that a random instance fails at the stated width


@dataclass(frozen=True)
class Design:
    """A random-code design at width n: column weight w and the mean-rate failure prediction."""

    n: int
    w: int  # neurons per used input
    p_feature: float  # P(one output fails the sampled test), from the mean rate FPR(k)
    p_instance: float  # P(more than the allowed outputs fail), outputs taken as independent


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
    exclude the output's own inputs (as lab.experiments.superposition.scoring conditions). Outputs reading no neuron: 1.0.
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

    The criterion (lab.experiments.superposition.scoring) asks precision >= 1 - ε as well as per-class rates <= ε: with
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
