"""Capacity thresholds: a logistic fit of success against log(resource) in each series of a run.

A series is the set of rows that share the kind's ``Analysis.series`` fields (plus any other member
field that varies in the run, so that e.g. an lr sweep never mixes into one curve); inside it the
resource is swept and several seeds train per value. Success is modelled per member as

    P(success | r) = sigmoid(sign · (log r − log t) / w),   sign = −1 ("decreasing"), +1 ("increasing")

and (log t, log w) are fitted by binomial maximum likelihood (as psignifit does for psychometric
functions). Diverged members count as failures. Intervals for t come from the Fisher
information and from a bootstrap that resamples seeds (all members of one seed stay together); the
reported interval is the hull of the two. Degenerate data:

- no transition inside the swept range (all succeed / all fail, or a fitted t outside it): the
  series is *censored*, reported as a bound ("below"/"above" that resource value), never a number;
- a transition sharper than the grid resolves (perfect or quasi separation: the fitted width hits
  its floor): t is the fit (the geometric midpoint of the gap when perfectly separated) and the
  interval spans the bracket between the nearest all-failure and all-success resource values;
- a single resource value with mixed outcomes: t is that value, width unknown.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import special, stats

SIGN = {"decreasing": -1.0, "increasing": 1.0}
METRIC_FIELDS = frozenset({"id", "kind", "status", "success", "version", "host", "seed"})


@dataclass(frozen=True)
class Threshold:
    """The threshold of one series. Numbers are in resource units; None where not estimable."""

    key: dict[str, Any]  # the series fields
    threshold: float | None
    lo: float | None
    hi: float | None
    censored: str | None  # None | "below" | "above": the threshold lies below/above ``bound``
    bound: float | None
    width: float | None  # logistic width w in log(resource); None when sharper than the grid
    seeds: int
    members: int
    sharp: bool = False  # transition sharper than the grid: the interval is the bracket
    note: str = ""

    @property
    def log_sigma(self) -> float | None:
        """Standard deviation of log t implied by the interval (normal approximation, 95%)."""
        if self.threshold is None:
            return None
        return (math.log(self.hi) - math.log(self.lo)) / (2 * stats.norm.ppf(0.975))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------- grouping


def series_fields(rows: Sequence[dict], analysis, member_fields: Iterable[str] | None = None) -> tuple[str, ...]:
    """``analysis.series`` plus any other member field that takes several values in ``rows``.

    ``member_fields`` (the kind's dataclass fields) limits the extra candidates; without it, every
    non-list, non-bookkeeping row field is a candidate.
    """
    skip = set(METRIC_FIELDS) | {analysis.resource} | set(analysis.series)
    candidates = member_fields if member_fields is not None else (rows[0].keys() if rows else ())
    extra = []
    for f in candidates:
        if f in skip or f.endswith("_final"):
            continue
        values = {_hashable(r.get(f)) for r in rows}
        if len(values) > 1 and not any(isinstance(r.get(f), list) for r in rows):
            extra.append(f)
    # a per-eval metric list that shares a member field's name (e.g. "loss") is not a series field
    series = tuple(f for f in analysis.series if not any(isinstance(r.get(f), list) for r in rows))
    return series + tuple(sorted(extra))


def group_series(rows: Sequence[dict], fields: Sequence[str]) -> list[tuple[dict, list[dict]]]:
    """Rows grouped by the values of ``fields`` (order of first appearance)."""
    groups: dict[tuple, list[dict]] = {}
    keys: dict[tuple, dict] = {}
    for row in rows:
        k = tuple(_hashable(row.get(f)) for f in fields)
        groups.setdefault(k, []).append(row)
        keys.setdefault(k, {f: row.get(f) for f in fields})
    return [(keys[k], groups[k]) for k in groups]


def member_success(row: dict) -> bool:
    """A member's outcome: diverged members fail."""
    return bool(row.get("success")) and row.get("status", "ok") != "diverged"


def success_table(rows: Sequence[dict], resource: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(resource values R, successes R, members R) of one series, sorted by resource."""
    r = np.array([float(row[resource]) for row in rows])
    y = np.array([member_success(row) for row in rows], dtype=float)
    values = np.unique(r)
    k = np.array([y[r == v].sum() for v in values])
    n = np.array([(r == v).sum() for v in values], dtype=float)
    return values, k, n


def success_probability(r, threshold: float, width: float | None, direction: str) -> np.ndarray:
    """The fitted logistic curve at resource values r (a step when width is None)."""
    x = np.log(np.asarray(r, dtype=float)) - math.log(threshold)
    if width is None:
        return (SIGN[direction] * x > 0).astype(float) + 0.5 * (x == 0)
    return special.expit(SIGN[direction] * x / width)


# ------------------------------------------------------------------------------------ one series


def fit_logistic(
    r: Sequence[float],
    success: Sequence[bool],
    seed: Sequence[int],
    direction: str,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
    key: dict | None = None,
) -> Threshold:
    """Fit one series from its members' resource values, outcomes and seeds (shapes (N,))."""
    if direction not in SIGN:
        raise ValueError(f"direction must be one of {sorted(SIGN)}, got {direction!r}")
    sign = SIGN[direction]
    if np.any(np.asarray(r, dtype=float) <= 0):
        raise ValueError("resource values must be positive (thresholds are fitted in log(resource))")
    x_N = np.log(np.asarray(r, dtype=float))
    y_N = np.asarray(success, dtype=float)
    seed_N = np.asarray(seed)
    x_R, r_idx = np.unique(x_N, return_inverse=True)
    seeds_S, s_idx = np.unique(seed_N, return_inverse=True)
    # per-seed aggregated counts: a bootstrap replicate is a multiset of seeds, i.e. counts c_S
    k_SxR = np.zeros((len(seeds_S), len(x_R)))
    n_SxR = np.zeros_like(k_SxR)
    np.add.at(k_SxR, (s_idx, r_idx), y_N)
    np.add.at(n_SxR, (s_idx, r_idx), 1.0)
    point = _fit_counts(x_R, k_SxR.sum(0)[None], n_SxR.sum(0)[None], sign, level=level, wald=True)
    base = dict(key=dict(key or {}), seeds=int(len(seeds_S)), members=int(len(x_N)), note=point["note"])
    if point["censored"] is not None:
        return Threshold(
            threshold=None, lo=None, hi=None, censored=point["censored"], bound=float(np.exp(point["bound"])),
            width=None, **base,
        )
    lo, hi = point["lo"], point["hi"]
    if n_boot > 0 and len(seeds_S) > 1:
        rng = rng if rng is not None else np.random.default_rng(0)
        c_BxS = rng.multinomial(len(seeds_S), np.full(len(seeds_S), 1.0 / len(seeds_S)), size=n_boot).astype(float)
        boot = _fit_counts(x_R, c_BxS @ k_SxR, c_BxS @ n_SxR, sign, level=level, wald=False)["value"]
        q = (1 - level) / 2
        lo, hi = min(lo, float(np.quantile(boot, q))), max(hi, float(np.quantile(boot, 1 - q)))
    return Threshold(
        threshold=float(np.exp(point["mu"])), lo=float(np.exp(lo)), hi=float(np.exp(hi)), censored=None,
        bound=None, width=point["width"], sharp=point["sharp"], **base,
    )


def _fit_counts(x_R: np.ndarray, k_BxR: np.ndarray, n_BxR: np.ndarray, sign: float, *, level: float, wald: bool) -> dict:
    """Fit B count tables on one grid x_R (log resource, sorted).

    Always returns ``value`` (B,): the log threshold, or the log bound where censored. With
    ``wald`` (B = 1) it also returns the point summary: mu, lo, hi (log units), width, sharp,
    censored, bound, note.
    """
    z_R = sign * x_R  # success grows with z
    B, R = k_BxR.shape
    present = n_BxR > 0
    fail = present & (k_BxR < n_BxR)
    succ = present & (k_BxR > 0)
    always, never = ~fail.any(1), ~succ.any(1)
    z_fail_max = np.where(fail, z_R, -np.inf).max(1)
    z_succ_min = np.where(succ, z_R, np.inf).min(1)
    separated = ~always & ~never & (z_fail_max < z_succ_min)
    z_lo_B = np.where(present, z_R, np.inf).min(1)
    z_hi_B = np.where(present, z_R, -np.inf).max(1)

    spacing = np.min(np.diff(x_R)) if R > 1 else 1.0
    span = x_R[-1] - x_R[0] if R > 1 else 1.0
    w_min, w_max = 0.1 * spacing, 10.0 * span
    mu_z, w = _solve_logistic(z_R, k_BxR, n_BxR, w_min, w_max)
    mu_z = np.where(separated, 0.5 * (z_fail_max + z_succ_min), mu_z)
    single = (z_lo_B == z_hi_B) & ~always & ~never
    mu_z = np.where(single, z_lo_B, mu_z)
    # censored in z: "low" = threshold beyond the easy end (always succeeds), "high" = never succeeds
    # a sharp fit may land a hair outside the sweep when the end value has mixed outcomes: clip
    mu_z = np.where(np.abs(mu_z - np.clip(mu_z, z_lo_B, z_hi_B)) <= w_min, np.clip(mu_z, z_lo_B, z_hi_B), mu_z)
    low = always | (~separated & ~single & (mu_z < z_lo_B))
    high = (never | (~separated & ~single & (mu_z > z_hi_B))) & ~low
    value_z = np.where(low, z_lo_B, np.where(high, z_hi_B, mu_z))
    out = {"value": sign * value_z}
    if not wald:
        return out

    def side(is_low: bool) -> str:  # z low end = small r for "increasing", large r for "decreasing"
        return ("below" if sign > 0 else "above") if is_low else ("above" if sign > 0 else "below")

    out.update(mu=None, lo=None, hi=None, width=None, sharp=False, censored=None, bound=None, note="")
    if low[0] or high[0]:
        notes = {(True, False): "always succeeds", (False, True): "never succeeds"}
        out.update(
            censored=side(bool(low[0])), bound=float(out["value"][0]),
            note=notes.get((bool(always[0]), bool(never[0])), "fitted transition outside the sweep"),
        )
        return out
    mu = float(sign * mu_z[0])
    if single[0]:
        out.update(mu=mu, lo=mu, hi=mu, note="single resource value")
        return out
    sharp = bool(separated[0] or w[0] <= 1.5 * w_min)
    out.update(mu=mu, sharp=sharp, width=None if sharp else float(w[0]))
    if not sharp:
        se = math.sqrt(max(_fisher_inverse(mu, float(w[0]), x_R, n_BxR[0], sign)[0, 0], 0.0))
        q = stats.norm.ppf(0.5 + level / 2)
        out.update(lo=mu - q * se, hi=mu + q * se)
        return out
    # sharper than the grid: the data only bracket the threshold between the nearest all-failure
    # value below it and the nearest all-success value above it (in z)
    frac = k_BxR[0] / np.maximum(n_BxR[0], 1)
    ok = present[0]
    below = z_R[ok & (z_R < mu_z[0]) & (frac == 0.0)]
    above = z_R[ok & (z_R > mu_z[0]) & (frac == 1.0)]
    z_a = below.max() if below.size else z_lo_B[0]
    z_b = above.min() if above.size else z_hi_B[0]
    a, b = sorted((sign * z_a, sign * z_b))
    out.update(lo=float(min(a, mu)), hi=float(max(b, mu)), note="separated" if separated[0] else "sharper than the grid")
    return out


def _solve_logistic(z_R, k_BxR, n_BxR, w_min: float, w_max: float, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Binomial MLE of p = sigmoid((z - mu)/w), w in [w_min, w_max], for B count tables at once.

    Newton steps in (a, b) = (-mu/w, 1/w), where the NLL is convex; b is projected onto
    [1/w_max, 1/w_min] (a projected coordinate then takes a 1-D Newton step in a alone), and steps
    are halved until the NLL does not increase. Returns (mu, w), each (B,).
    """
    B = k_BxR.shape[0]
    b_lo, b_hi = 1.0 / w_max, 1.0 / w_min
    zc = 0.5 * (z_R.min() + z_R.max())
    b = np.full(B, np.clip(4.0 / max(z_R.max() - z_R.min(), 1e-9), b_lo, b_hi))
    a = -b * zc

    def nll(a, b):
        eta = a[:, None] + b[:, None] * z_R
        return (n_BxR * np.logaddexp(0.0, eta) - k_BxR * eta).sum(1)

    f = nll(a, b)
    for _ in range(iters):
        eta = a[:, None] + b[:, None] * z_R
        p = special.expit(eta)
        r_BxR = n_BxR * p - k_BxR
        g_a, g_b = r_BxR.sum(1), (r_BxR * z_R).sum(1)
        wt = n_BxR * p * (1 - p) + 1e-12
        h_aa, h_ab, h_bb = wt.sum(1), (wt * z_R).sum(1), (wt * z_R**2).sum(1)
        det = h_aa * h_bb - h_ab**2 + 1e-18
        da = (h_bb * g_a - h_ab * g_b) / det
        db = (h_aa * g_b - h_ab * g_a) / det
        a_new, b_new = a - da, b - db
        clipped = (b_new < b_lo) | (b_new > b_hi)
        b_new = np.clip(b_new, b_lo, b_hi)
        # on the bound, minimise over a alone at the projected b
        eta_c = a[:, None] + b_new[:, None] * z_R
        p_c = special.expit(eta_c)
        g_c = (n_BxR * p_c - k_BxR).sum(1)
        h_c = (n_BxR * p_c * (1 - p_c)).sum(1) + 1e-12
        a_new = np.where(clipped, a - g_c / h_c, a_new)
        step_a, step_b = a_new - a, b_new - b
        t = np.ones(B)
        f_new = nll(a + step_a, b + step_b)
        for _ in range(30):
            worse = f_new > f + 1e-12
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
            f_new = np.where(worse, nll(a + t * step_a, b + t * step_b), f_new)
        worse = f_new > f + 1e-12
        t = np.where(worse, 0.0, t)
        a, b = a + t * step_a, b + t * step_b
        f_prev, f = f, np.minimum(f, f_new)
        if np.all(np.abs(f_prev - f) < 1e-10 * (1 + np.abs(f))) and np.all(np.abs(t * step_a) + np.abs(t * step_b) < 1e-9):
            break
    return -a / b, 1.0 / b


def _fisher_inverse(mu: float, w: float, x_R: np.ndarray, n_R: np.ndarray, sign: float) -> np.ndarray:
    """Inverse expected Fisher information of (mu, log w) for counts n_R at x_R."""
    z = sign * (x_R - mu) / w
    v = n_R * special.expit(z) * special.expit(-z)
    j = np.stack([np.full_like(z, -sign / w), -z])
    return np.linalg.pinv((j * v) @ j.T)


# ------------------------------------------------------------------------------------ whole run


def fit_thresholds(
    rows: Sequence[dict],
    analysis,
    *,
    member_fields: Iterable[str] | None = None,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    outcome=None,
    fields: Sequence[str] | None = None,
) -> list[Threshold]:
    """Thresholds of every series in ``rows`` (see the module docstring).

    ``outcome(row) -> bool`` is a member's success (default: ``member_success``); ``fields`` the
    series fields (default: ``series_fields``)."""
    outcome = outcome or member_success
    if analysis.direction not in SIGN:
        raise ValueError(f"analysis.direction must be one of {sorted(SIGN)}, got {analysis.direction!r}")
    fields = series_fields(rows, analysis, member_fields) if fields is None else tuple(fields)
    rng = np.random.default_rng(seed)
    out = []
    for key, members in group_series(rows, fields):
        out.append(
            fit_logistic(
                [m[analysis.resource] for m in members], [outcome(m) for m in members],
                [m.get("seed", 0) for m in members], analysis.direction,
                n_boot=n_boot, level=level, rng=rng, key=key,
            )
        )
    return out


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v
