"""Capacity laws and their fits to measured thresholds.

A law predicts a threshold (in resource units) from a series' covariates. Laws are fitted in log
space by maximum likelihood: an uncensored threshold t_i with interval-derived spread σ_i
contributes N(log t_i; log f(x_i), σ_i); a censored one contributes the probability of lying
beyond its bound (a Tobit term), so "capacity above 16n" constrains the fit instead of being
dropped. Optimisation is multi-start Levenberg-Marquardt with an explicit convergence check (the optimum is
reached from two starts, a small gradient, a positive-definite Hessian); otherwise FitError.
Lesson from Epoch's Chinchilla replication (arXiv 2404.10102): an unconverged fit is not a result.

Each kind registers its own laws (e.g. lab.experiments.superposition.laws: capacity m'*(n) at most
O(n²/log n); lab.experiments.attention.laws: D_K* = Θ(m' log m' / d_model)) and names them in its
``Analysis.laws``. Adding a law = one ``register(Law(...))`` in the kind's module. Logs are
natural; constants absorb the base.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy import optimize, special, stats


class FitError(RuntimeError):
    """A law fit that did not converge or whose parameters the data do not identify."""


@dataclass(frozen=True)
class Law:
    """A named capacity law: threshold = fn(covariates, params)."""

    name: str
    formula: str  # human-readable, e.g. "c·n^α"
    params: tuple[str, ...]
    covariates: tuple[str, ...]
    fn: Callable[[Mapping[str, np.ndarray], Mapping[str, float]], np.ndarray]
    positive: tuple[str, ...] = ("c",)  # fitted in log space
    starts: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # multi-start values
    data_scaled: tuple[str, ...] = ()  # starts given in units of the median threshold

    def predict(self, params: Mapping[str, float], covariates: Mapping[str, Sequence[float]]) -> np.ndarray:
        cov = {k: np.asarray(covariates[k], dtype=float) for k in self.covariates}
        return np.asarray(self.fn(cov, params), dtype=float)


LAWS: dict[str, Law] = {}


def register(law: Law) -> Law:
    LAWS[law.name] = law
    return law


def get(name: str) -> Law:
    """The registered law ``name`` (the kinds, which register theirs, are discovered first)."""
    if name not in LAWS:
        from lab import experiment

        experiment.discover()
    if name not in LAWS:
        raise KeyError(f"unknown law {name!r}; known: {sorted(LAWS)}")
    return LAWS[name]


# ------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class Points:
    """Thresholds prepared for law fits; arrays of shape (P,)."""

    covariates: dict[str, np.ndarray]
    log_t: np.ndarray  # log threshold, or log bound where censored
    sigma: np.ndarray  # spread of log t
    censored: np.ndarray  # 0 = measured, +1 = threshold above bound, -1 = below

    def __len__(self) -> int:
        return len(self.log_t)

    def take(self, idx) -> "Points":
        return Points({k: v[idx] for k, v in self.covariates.items()}, self.log_t[idx], self.sigma[idx], self.censored[idx])

    @property
    def measured(self) -> np.ndarray:
        return self.censored == 0


SIGMA_FLOOR = 0.03  # no threshold is known better than 3% (guards a zero-width interval)


def points_from_thresholds(thresholds: Sequence, covariates: Sequence[str], sigma_floor: float = SIGMA_FLOOR) -> Points:
    """Points from lab.thresholds.Threshold objects (or their dicts), keeping censored bounds."""
    rows = [t.to_dict() if hasattr(t, "to_dict") else dict(t) for t in thresholds]
    cov = {c: np.array([float(r["key"][c]) for r in rows]) for c in covariates}
    q = stats.norm.ppf(0.975)
    log_t, sigma, cens = [], [], []
    for r in rows:
        if r["censored"] is None:
            log_t.append(math.log(r["threshold"]))
            sigma.append(max((math.log(r["hi"]) - math.log(r["lo"])) / (2 * q), sigma_floor))
            cens.append(0)
        else:
            log_t.append(math.log(r["bound"]))
            sigma.append(np.nan)
            cens.append(1 if r["censored"] == "above" else -1)
    sigma = np.array(sigma)
    measured = ~np.isnan(sigma)
    # a censored series gets the typical spread of the measured ones
    sigma[~measured] = np.median(sigma[measured]) if measured.any() else 0.35
    return Points(cov, np.array(log_t), sigma, np.array(cens))


# ------------------------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class LawFit:
    """One law fitted to one set of thresholds."""

    name: str
    formula: str
    params: dict[str, tuple[float, float, float]]  # name -> (value, lo, hi)
    nll: float
    aic: float
    bic: float
    heldout: float | None  # leave-one-out RMS error of log threshold (measured series only)
    converged: bool
    n_points: int
    n_censored: int
    chi2_dof: float | None  # Σ z²/dof of the measured series; > 1: scatter beyond the intervals
    error: str | None = None
    # overdispersion-corrected AIC (Burnham & Anderson's QAIC): 2(k + 1) + 2·(NLL - NLL_0)/ĉ with ĉ
    # the χ²/dof of the most general law fitted to the same points (floored at 1); set by compare()
    qaic: float | None = None
    c_hat: float | None = None
    seed_resamples: int | None = None  # distinct seed multisets behind the pipeline interval (fit.py)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "formula": self.formula,
            "params": {k: {"value": v, "lo": lo, "hi": hi} for k, (v, lo, hi) in self.params.items()},
            "aic": self.aic,
            "bic": self.bic,
            "heldout": self.heldout,
            "converged": self.converged,
            "n_points": self.n_points,
            "n_censored": self.n_censored,
            "chi2_dof": self.chi2_dof,
            "error": self.error,
            "qaic": self.qaic,
            "c_hat": self.c_hat,
            "seed_resamples": self.seed_resamples,
        }


def failed(law: Law, error: str, points: Points | None = None) -> LawFit:
    """The record of a law that could not be fitted (not a result: no parameters)."""
    n = len(points) if points is not None else 0
    n_c = int((points.censored != 0).sum()) if points is not None else 0
    return LawFit(law.name, law.formula, {}, math.nan, math.nan, math.nan, None, False, n, n_c, None, error)


def _unpack(law: Law, theta: np.ndarray) -> dict[str, float]:
    with np.errstate(over="ignore"):
        return {p: float(np.exp(t)) if p in law.positive else float(t) for p, t in zip(law.params, theta)}


def _pack(law: Law, params: Mapping[str, float]) -> np.ndarray:
    return np.array([math.log(params[p]) if p in law.positive else params[p] for p in law.params])


INVALID = 1e6  # residual of a point where the law predicts a non-positive or non-finite threshold


def residuals(law: Law, theta: np.ndarray, pts: Points) -> np.ndarray:
    """r with −log L = ½·Σ r² + const: z-scores of measured points, √(−2 log P) of censored ones.

    A censored point above its bound has P(log t > log bound) = Φ(−z); below it, Φ(z). Every term
    of −log L is non-negative, so the fit is a least-squares problem (fast Levenberg-Marquardt).
    """
    with np.errstate(all="ignore"):
        pred = law.predict(_unpack(law, theta), pts.covariates)
    if not np.all(np.isfinite(pred)) or np.any(pred <= 0):
        return np.full(len(pts), INVALID)  # a law must predict positive thresholds where fitted
    z = (pts.log_t - np.log(pred)) / pts.sigma
    log_p = special.log_ndtr(-pts.censored * z)  # only used where censored != 0
    return np.where(pts.censored == 0, z, np.sqrt(np.maximum(-2.0 * log_p, 0.0)))


def negloglik(law: Law, theta: np.ndarray, pts: Points) -> float:
    """−log L of the thresholds under the law (Gaussian in log space, Tobit for censored)."""
    m = pts.censored == 0
    const = np.sum(np.log(pts.sigma[m])) + 0.5 * math.log(2 * math.pi) * np.count_nonzero(m)
    return float(0.5 * np.sum(residuals(law, theta, pts) ** 2) + const)


def _starts(law: Law, pts: Points) -> list[np.ndarray]:
    med = float(np.exp(np.median(pts.log_t)))
    grids = [law.starts.get(p, (0.0,)) if p != "c" else (None,) for p in law.params]
    out = []
    for combo in itertools.product(*grids):
        params = {p: (v * med if p in law.data_scaled else v) for p, v in zip(law.params, combo) if p != "c"}
        # c from the data: the median log ratio of thresholds to the law at c = 1
        with np.errstate(all="ignore"):
            unit = law.predict({**params, "c": 1.0}, pts.covariates)
            extra = params.get("b", 0.0)
            ratio = np.log(np.maximum(np.exp(pts.log_t) - extra, 1e-9)) - np.log(np.maximum(unit - extra, 1e-12))
        params["c"] = float(np.exp(np.median(ratio[np.isfinite(ratio)]))) if np.isfinite(ratio).any() else 1.0
        for scale in (1.0, 3.0, 1 / 3):
            out.append(_pack(law, {**params, "c": params["c"] * scale}))
    return out


def _minimize(law: Law, pts: Points, starts: list[np.ndarray], check: bool = True) -> tuple[np.ndarray, float]:
    """Best of Levenberg-Marquardt runs from ``starts``; with ``check``, FitError unless converged:
    at least two starts reach the best optimum and the gradient there is small."""
    fun = lambda th: residuals(law, th, pts)
    results = []
    for x0 in starts:
        if np.any(fun(x0) >= INVALID):
            continue
        res = optimize.least_squares(fun, x0, method="lm" if len(pts) >= len(x0) else "trf", xtol=1e-12, ftol=1e-12, gtol=1e-12)
        if res.status > 0 and np.all(np.abs(res.fun) < INVALID):
            results.append((negloglik(law, res.x, pts), res.x))
    if not results:
        raise FitError(f"{law.name}: no start gave a finite likelihood")
    results.sort(key=lambda r: r[0])
    best_f, best_x = results[0]
    if check:
        agree = sum(abs(f - best_f) <= 1e-6 * (1 + abs(best_f)) for f, _ in results)
        if agree < 2:
            raise FitError(f"{law.name}: only one of {len(starts)} starts reached the best optimum (NLL {best_f:.4g})")
        grad = optimize.approx_fprime(best_x, lambda th: negloglik(law, th, pts), 1e-7)
        if not np.all(np.isfinite(grad)) or np.max(np.abs(grad)) > 1e-3 * (1 + abs(best_f)):
            raise FitError(f"{law.name}: gradient at the optimum is not small ({np.max(np.abs(grad)):.3g})")
    return best_x, float(best_f)


def hessian(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of a scalar function, shape (k, k)."""
    k = len(x)
    h = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * eps, np.eye(k)[j] * eps
            h[i, j] = h[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * eps * eps)
    return h


def fit_law(
    law: Law | str,
    points: Points,
    *,
    interval: str = "bootstrap",
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    heldout: bool = True,
) -> LawFit:
    """Fit ``law`` to ``points``; raise FitError unless converged and identified.

    ``interval``: "wald" (inverse Hessian) or "bootstrap" (each measured threshold re-drawn from
    a normal in log space matching its interval, censored ones kept; refit; percentiles). Either
    is widened by √(χ²/dof) when the law misses the measured thresholds by more than their spread.
    """
    law = get(law) if isinstance(law, str) else law
    k = len(law.params)
    n_meas = int(points.measured.sum())
    if n_meas < k + 1:
        raise FitError(f"{law.name}: {n_meas} measured thresholds, need at least {k + 1} for {k} parameters")
    theta, nll = _minimize(law, points, _starts(law, points))
    f = lambda th: negloglik(law, th, points)
    h = hessian(f, theta)
    eig = np.linalg.eigvalsh(h)
    if not np.all(np.isfinite(eig)) or eig.min() <= 1e-8 * max(eig.max(), 1.0):
        raise FitError(f"{law.name}: parameters not identified by these thresholds (Hessian eigenvalues {eig})")
    m = points.measured
    with np.errstate(all="ignore"):
        pred = law.predict(_unpack(law, theta), points.covariates)
    z = (points.log_t[m] - np.log(pred[m])) / points.sigma[m]
    dof = n_meas - k
    chi2_dof = float(np.sum(z**2) / dof) if dof > 0 else None
    inflate = math.sqrt(max(chi2_dof or 1.0, 1.0))
    q = stats.norm.ppf(0.5 + level / 2)

    if interval == "wald":
        se = np.sqrt(np.diag(np.linalg.inv(h)))
        lo_th, hi_th = theta - q * se * inflate, theta + q * se * inflate
    elif interval == "bootstrap":
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(n_boot):
            log_t = np.where(m, points.log_t + rng.standard_normal(len(points)) * points.sigma, points.log_t)
            rep = Points(points.covariates, log_t, points.sigma, points.censored)
            try:
                draws.append(_minimize(law, rep, [theta], check=False)[0])
            except FitError:
                pass
        if len(draws) < 0.9 * n_boot:
            raise FitError(f"{law.name}: only {len(draws)} of {n_boot} bootstrap refits succeeded")
        draws = np.array(draws)
        a = (1 - level) / 2
        lo_th = theta - inflate * (theta - np.quantile(draws, a, axis=0))
        hi_th = theta + inflate * (np.quantile(draws, 1 - a, axis=0) - theta)
    else:
        raise ValueError(f"interval must be 'wald' or 'bootstrap', got {interval!r}")

    value, lo, hi = _unpack(law, theta), _unpack(law, lo_th), _unpack(law, hi_th)
    n = len(points)
    return LawFit(
        name=law.name,
        formula=law.formula,
        params={p: (value[p], lo[p], hi[p]) for p in law.params},
        nll=nll,
        aic=2 * k + 2 * nll,
        bic=k * math.log(n) + 2 * nll,
        heldout=leave_one_out(law, points, theta) if heldout else None,
        converged=True,
        n_points=n,
        n_censored=int((points.censored != 0).sum()),
        chi2_dof=chi2_dof,
    )


def refit(law: Law | str, points: Points, start: Mapping[str, float]) -> dict[str, float] | None:
    """The law's best parameters on ``points`` starting from ``start`` (no convergence checks:
    for resampled data sets, e.g. a seed bootstrap); None when no start gives a finite likelihood."""
    law = get(law) if isinstance(law, str) else law
    if int(points.measured.sum()) < len(law.params):
        return None
    try:
        theta, _ = _minimize(law, points, [_pack(law, start)] + _starts(law, points)[:2], check=False)
    except FitError:
        return None
    return _unpack(law, theta)


def leave_one_out(law: Law, points: Points, theta: np.ndarray) -> float | None:
    """RMS error of log threshold when each measured series is predicted from all the others."""
    errs = []
    for i in np.flatnonzero(points.measured):
        rest = points.take(np.arange(len(points)) != i)
        if rest.measured.sum() < len(law.params):
            return None
        try:
            th, _ = _minimize(law, rest, [theta] + _starts(law, rest)[:2], check=False)
        except FitError:
            return None
        with np.errstate(all="ignore"):
            pred = law.predict(_unpack(law, th), points.take([i]).covariates)[0]
        if not pred > 0:
            return None
        errs.append(points.log_t[i] - math.log(pred))
    return float(np.sqrt(np.mean(np.square(errs)))) if errs else None


def compare(names: Sequence[str], points: Points, **kwargs) -> list[LawFit]:
    """Fit every law; a law that fails is recorded (converged False, error), not raised.

    Each converged fit also gets its QAIC: thresholds that scatter beyond their intervals
    (χ²/dof > 1) make plain AIC differences over-confident by the factor ĉ = χ²/dof; ĉ is taken
    from the most general converged law (most parameters), so that every law is judged against
    the same scatter.
    """
    out = []
    for name in names:
        law = get(name)
        try:
            out.append(fit_law(law, points, **kwargs))
        except FitError as e:
            out.append(failed(law, str(e), points))
    return with_qaic(out, points)


def null_nll(points: Points) -> float:
    """The part of −log L that no law changes (normalising constants of the measured points)."""
    m = points.measured
    return float(np.sum(np.log(points.sigma[m])) + 0.5 * math.log(2 * math.pi) * np.count_nonzero(m))


def with_qaic(fits: Sequence[LawFit], points: Points) -> list[LawFit]:
    """The fits with ``qaic`` and ``c_hat`` set (see ``compare``)."""
    ok = [f for f in fits if f.converged]
    if not ok:
        return list(fits)
    general = max(ok, key=lambda f: (len(f.params), -f.aic))
    c_hat = max(general.chi2_dof or 1.0, 1.0)
    base = null_nll(points)
    return [
        dataclasses.replace(f, c_hat=c_hat, qaic=2 * (len(f.params) + 1) + 2 * (f.nll - base) / c_hat) if f.converged else f
        for f in fits
    ]


def best(fits: Sequence[LawFit]) -> LawFit | None:
    """The converged fit of lowest QAIC (AIC where QAIC is not set)."""
    ok = [f for f in fits if f.converged]
    return min(ok, key=lambda f: f.qaic if f.qaic is not None else f.aic) if ok else None
