"""The smallest width at which the explicit construction passes the success criterion, searched and
measured on random task instances (``measure``: one row per m'), for `lab construct` and the
overlays of the superposition figures."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from lab.experiments.superposition.construction import build, nonzero_params
from lab.experiments.superposition.criterion import Criterion
from lab.experiments.superposition.mlp import param_count
from lab.experiments.superposition.scoring import feature_scores, success
from lab.experiments.superposition.task import BooleanTask, sample_pairs
from lab.experiments.superposition.theory import stated_width


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
