"""`lab interpret RUN_DIR` for the superposition kind: the feature channels of its trained networks
(lab.experiments.superposition.channels; Adler, Alistarh & Shavit, arXiv 2504.08842), set beside
those of the lab's explicit constructions, and how well channel statistics alone predict which
features a network computes.

Parameters come from the run when it stored them (``[run] keep_params = true``: RUN_DIR/params,
lab.store.load_params). Otherwise they are re-derived by training again: a member's training
depends only on its own config and seed (keys from lab.engine.member_key, batches from its task),
so ``make_train`` run again gives the same network.
The chosen members are trained in one program per static shape, padded to their largest width
and m'; masked neurons and outputs do not change a member's training, but another padding or vmap
grouping can change the last float bits (as another chunk size can in lab.sweep), so the
re-trained networks' per-feature verdicts are compared with the run's rows and the agreement is
reported. They are kept in RUN_DIR/interpret/params.npz, so another reading does not train again.

The networks are read over features: inputs in superposition fold their embedding into the first
layer (w_in_MxN = E_MxD w_in_DxN) and outputs in superposition fold their fixed decoder into the
second (w_out_NxK = w_out_NxO R_OxK, as train.features does). The construction at the same n and m'
reads the same pairs with raw inputs and outputs (the regime it is built for); scheme ``auto``.

Prediction: per feature its channel statistics (size, leak, containment, private neurons, load),
a ridge logistic regression cross-validated by network (each network's features predicted by a
model fitted on the other networks); baseline: predicting the majority outcome for every feature.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab import experiment, store
from lab.experiments.superposition import channels as ch
from lab.experiments.superposition.criterion import Criterion
from lab.experiments.superposition.member import SuperpositionMember

OPS = ("and", "perm")  # channels as defined in lab.experiments.superposition.channels
TOLS = (0.0, 0.05, 0.1, 0.2, 0.3)  # tolerances whose readings are compared (sensitivity)
STATS = ("size", "leak", "containment", "private", "load")  # what the prediction may use


@dataclass(frozen=True)
class Network:
    """One network read over features: effective parameters, its pairs and per-feature verdicts."""

    member: SuperpositionMember
    source: str  # "trained" | "construction"
    net: dict  # w_in_MxN, b_in_N, w_out_NxK, b_out_K (numpy)
    pairs_Kx2: np.ndarray
    computed_K: np.ndarray  # the criterion's verdict per feature
    stored_K: np.ndarray | None = None  # the run's verdicts (trained networks)
    scheme: str = ""  # construction scheme


# ----------------------------------------------------------------------------- choosing members


def member_of(row: dict) -> SuperpositionMember:
    names = [f.name for f in dataclasses.fields(SuperpositionMember)]
    return SuperpositionMember(**{k: row[k] for k in names if k in row})


def select(rows: list[dict], seeds=None, members: int | None = None) -> list[dict]:
    """Rows to read: trained without divergence, of ``seeds`` (default: the run's first seed), at
    most ``members`` of them spread evenly over the (setting, n, m') grid."""
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        return []
    seeds = {min(r["seed"] for r in ok)} if seeds is None else set(seeds)
    rest = ("n", "m_out", "seed")
    chosen = sorted((r for r in ok if r["seed"] in seeds), key=lambda r: (r["n"], r["m_out"], repr(sorted(
        (k, v) for k, v in dataclasses.asdict(member_of(r)).items() if k not in rest)), r["seed"]))
    if members is not None and len(chosen) > members:
        chosen = [chosen[i] for i in np.unique(np.linspace(0, len(chosen) - 1, members).round().astype(int))]
    return chosen


def verdicts(fnr, fpr_max, precision, criterion: Criterion) -> np.ndarray:
    """lab.experiments.superposition.scoring.computed on numpy rates (bool per feature)."""
    tol, eps = 1e-9, criterion.epsilon
    return ((np.asarray(fnr) <= eps + tol) & (np.asarray(fpr_max) <= eps + tol)
            & (np.asarray(precision) >= 1.0 - eps - tol))


# ------------------------------------------------------------------------- re-deriving networks


def retrain(run_dir: Path, chosen: list[dict], meta: dict) -> dict[str, dict]:
    """Member id -> {w_in_MxN, b_in_N, w_out_NxK, b_out_K (read over features), pairs, fnr, fpr,
    precision (final, per feature)}.

    Takes the parameters the run stored ([run] keep_params), then RUN_DIR/interpret/params.npz,
    and trains only the members neither holds (module docstring).
    """
    found = stored(run_dir, chosen)
    cache = Path(run_dir) / "interpret" / "params.npz"
    found.update({k: v for k, v in _load_cache(cache, meta.get("digest")).items() if k not in found})
    todo = [r for r in chosen if r["id"] not in found]
    if todo:
        found.update(_train(todo, meta))
        _save_cache(cache, meta.get("digest"), found)
    return found


def stored(run_dir: Path, rows: list[dict]) -> dict[str, dict]:
    """``retrain``'s entries of the members whose trained parameters the run stored ([run]
    keep_params), with the run's own per-feature rates (they are the same network)."""
    from lab import store

    params = store.load_params(run_dir, [r["id"] for r in rows])
    out = {}
    for r in rows:
        if r["id"] in params:
            m = member_of(r)
            rates = {name: np.asarray(r[f"{name}_final"], np.float32) for name in ("fnr", "fpr", "precision")}
            out[r["id"]] = {**over_features(m, params[r["id"]], *drawn(m, m.m_out)), **rates}
    return out


def drawn(member, k_max: int):
    """(pairs (k_max, 2), embedding (m, d) or None, decoder (d_out, k_max) or None) of a member,
    from its own keys (pairs and decoder columns are prefixes: task.sample_pairs, train.readout_vectors)."""
    from lab import engine
    from lab.experiments.superposition.task import feature_embedding, sample_pairs
    from lab.experiments.superposition.train import member_keys, readout_vectors

    keys = member_keys(engine.member_key(experiment.get("superposition"), member))
    task = member.task
    emb = np.asarray(feature_embedding(keys["embed"], task.m, task.d)) if task.d is not None else None
    read = np.asarray(readout_vectors(keys["readout"], member.d_out, k_max)) if member.d_out is not None else None
    return np.asarray(sample_pairs(keys["task"], task, k_max)), emb, read


def over_features(m, params: dict, pairs, emb, read) -> dict:
    """A member's trained parameters (padded to its bucket) read over features: the embedding folded
    into the first layer, the fixed decoder (and its threshold: 1 for bce) into the second, as
    train.features does; {w_in_MxN, b_in_N, w_out_NxK, b_out_K, pairs}."""
    n, k = m.n, m.m_out
    w_in, b_in = np.asarray(params["w_in_DxN"])[:, :n], np.asarray(params["b_in_N"])[:n]
    w_out, b_out = np.asarray(params["w_out_NxK"])[:n], np.asarray(params["b_out_K"])
    if emb is not None:
        w_in = emb @ w_in
    if read is None:
        w_out, b_out = w_out[:, :k], b_out[:k]
    else:
        w_out, b_out = w_out @ read[:, :k], b_out @ read[:, :k] - (1.0 if m.objective == "bce" else 0.0)
    return {"w_in_MxN": w_in, "b_in_N": b_in, "w_out_NxK": w_out, "b_out_K": b_out, "pairs": np.asarray(pairs)[:k]}


def _train(rows: list[dict], meta: dict) -> dict[str, dict]:
    """Train ``rows``' members again, one program per static shape, and read them over features."""
    from lab import engine
    from lab.training import TrainConfig

    exp = experiment.get("superposition")
    identity = meta["identity"]
    train_cfg = TrainConfig(**identity["train"])
    criterion = Criterion(**{k: v for k, v in identity["success"].items() if k in exp.success_fields()})
    engine.enable_compilation_cache()
    groups: dict[tuple, list] = {}
    for r in rows:
        m = member_of(r)
        groups.setdefault(tuple((f, getattr(m, f)) for f in exp.static_fields()), []).append((r["id"], m))
    out = {}
    for static, items in groups.items():
        members = [m for _, m in items]
        shape = {**dict(static), **{f: max(getattr(m, f) for m in members) for f in exp.padded}}
        out.update(zip((mid for mid, _ in items), _train_group(shape, members, train_cfg, criterion)))
    return out


def _train_group(shape: dict, members: list, train_cfg, criterion: Criterion) -> list[dict]:
    """One program: the members trained in a bucket of ``shape``, each with its pairs, embedding
    and decoder drawn from its own keys for the bucket's largest m' (pairs and decoder columns are
    prefixes: task.sample_pairs, train.readout_vectors), then read over features."""
    import jax
    import jax.numpy as jnp

    from lab import engine
    from lab.experiments.superposition.task import feature_embedding, sample_pairs
    from lab.experiments.superposition.train import (
        make_train,
        member_keys,
        readout_vectors,
    )

    exp = experiment.get("superposition")
    train = make_train(shape, train_cfg, criterion)
    task, d_out, k_max = members[0].task, members[0].d_out, shape["m_out"]

    def one(root, hyper):
        keys = member_keys(root)
        emb = feature_embedding(keys["embed"], task.m, task.d) if task.d is not None else jnp.zeros(())
        read = readout_vectors(keys["readout"], d_out, k_max) if d_out is not None else jnp.zeros(())
        return train(root, hyper), (sample_pairs(keys["task"], task, k_max), emb, read)

    roots = jnp.stack([engine.member_key(exp, m) for m in members])
    (params, metrics), drawn_ = jax.tree.map(np.asarray, jax.jit(jax.vmap(one))(roots, engine.hyper_arrays(exp, members)))
    out = []
    for i, m in enumerate(members):
        pairs, emb, read = (a[i] for a in drawn_)
        net = over_features(m, {name: v[i] for name, v in params.items()}, pairs,
                            emb if m.d is not None else None, read if d_out is not None else None)
        out.append({**net, **{name: metrics[name][i, -1, :m.m_out] for name in ("fnr", "fpr", "precision")}})
    return out


def _load_cache(path: Path, digest: str | None) -> dict[str, dict]:
    if not path.exists():
        return {}
    with np.load(path) as z:
        if str(z["digest"]) != str(digest):
            return {}
        out: dict[str, dict] = {}
        for key in z.files:
            if key != "digest":
                mid, name = key.split("/")
                out.setdefault(mid, {})[name] = z[key]
    return out


def _save_cache(path: Path, digest: str | None, found: dict[str, dict]) -> None:
    arrays = {"digest": np.asarray(str(digest))}
    for mid, entry in found.items():
        arrays.update({f"{mid}/{name}": v for name, v in entry.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def trained_network(row: dict, entry: dict, criterion: Criterion) -> Network:
    """A re-trained member (``retrain``'s entry) with its verdicts and the run's."""
    net = {k: entry[k] for k in ("w_in_MxN", "b_in_N", "w_out_NxK", "b_out_K")}
    return Network(member=member_of(row), source="trained", net=net, pairs_Kx2=np.asarray(entry["pairs"]),
                   computed_K=verdicts(entry["fnr"], entry["fpr"], entry["precision"], criterion),
                   stored_K=verdicts(row["fnr_final"], row["fpr_final"], row["precision_final"], criterion))


def constructions(trained: list[Network], criterion: Criterion) -> list[Network]:
    """The explicit construction (scheme auto) at each trained network's n, m' and pairs, raw
    inputs and outputs, with the criterion's exact (or sampled) verdicts."""
    import jax

    from lab.engine import member_key
    from lab.experiments.superposition.construction import build

    built = []
    for t in trained:
        m = t.member
        task = dataclasses.replace(m.task, d=None)
        key = jax.random.fold_in(member_key(experiment.get("superposition"), m), experiment.stable_hash("construction"))
        params = build(task, t.pairs_Kx2, m.n, key, scheme="auto", criterion=criterion)
        params = {k: np.asarray(v) for k, v in params.items()}
        scheme = "dedicated" if m.n >= m.m_out else "hybrid"
        net = {"w_in_MxN": params["w_in_DxN"], "b_in_N": params["b_in_N"], "w_out_NxK": params["w_out_NxK"],
               "b_out_K": params["b_out_K"]}
        built.append((t, task, net, scheme))
    verdict = _score([(task, net, t.pairs_Kx2) for t, task, net, _ in built], criterion)
    return [Network(member=t.member, source="construction", net=net, pairs_Kx2=t.pairs_Kx2, computed_K=ok, scheme=scheme)
            for (t, _, net, scheme), ok in zip(built, verdict)]


def _score(items: list[tuple], criterion: Criterion) -> list[np.ndarray]:
    """Per-feature verdicts of raw-input networks (task, net, pairs), one program per task."""
    out: list[np.ndarray | None] = [None] * len(items)
    by_task: dict = {}
    for i, (task, _, _) in enumerate(items):
        by_task.setdefault(task, []).append(i)
    for task, idx in by_task.items():
        for i, ok in zip(idx, _score_task(task, [items[i][1:] for i in idx], criterion)):
            out[i] = ok
    return out


def _score_task(task, nets: list[tuple], criterion: Criterion) -> list[np.ndarray]:
    """Verdicts of (net, pairs) networks of one task, padded to one shape and scored in one program
    (padded outputs read nothing and are dropped)."""
    import jax
    import jax.numpy as jnp

    from lab.experiments.superposition.scoring import computed, feature_scores

    n_max = max(net["b_in_N"].shape[0] for net, _ in nets)
    k_max = max(len(pairs) for _, pairs in nets)

    def pad(net, pairs):
        n, k = net["b_in_N"].shape[0], len(pairs)
        return ({"w_in_DxN": np.pad(net["w_in_MxN"], ((0, 0), (0, n_max - n))),
                 "b_in_N": np.pad(net["b_in_N"], (0, n_max - n)),
                 "w_out_NxK": np.pad(net["w_out_NxK"], ((0, n_max - n), (0, k_max - k))),
                 "b_out_K": np.pad(net["b_out_K"], (0, k_max - k), constant_values=-1.0)},
                np.int32(n), np.concatenate([pairs, np.repeat(pairs[:1], k_max - k, 0)]).astype(np.int32))

    stacked = jax.tree.map(lambda *a: jnp.asarray(np.stack(a)), *(pad(net, pairs) for net, pairs in nets))
    key = jax.random.key(experiment.stable_hash(f"construction-eval:{task!r}"))

    def one(args):
        params, n, pairs = args
        return computed(feature_scores(params, n, pairs, task, None, key, criterion), criterion.epsilon)

    ok = np.asarray(jax.jit(lambda xs: jax.lax.map(one, xs))(stacked))
    return [ok[r, : len(pairs)] for r, (_, pairs) in enumerate(nets)]


# ------------------------------------------------------------------------------------ prediction


def features_matrix(stats: dict[str, np.ndarray]) -> np.ndarray:
    """Per feature (K, len(STATS)): log(1 + count) of the counts, containment as it is."""
    cols = [stats[s] if s == "containment" else np.log1p(stats[s]) for s in STATS]
    return np.stack(cols, axis=1).astype(np.float64)


def fit_logistic(x_FxS: np.ndarray, y_F: np.ndarray, ridge: float = 1e-2, iters: int = 50):
    """Ridge logistic regression by Newton's method on standardised columns; returns a predictor."""
    mu, sd = x_FxS.mean(0), x_FxS.std(0) + 1e-9
    z = np.column_stack([np.ones(len(x_FxS)), (x_FxS - mu) / sd])
    w = np.zeros(z.shape[1])
    reg = ridge * np.eye(z.shape[1])
    reg[0, 0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        hess = z.T @ (z * (p * (1 - p))[:, None]) + reg * len(z)
        step = np.linalg.solve(hess, z.T @ (p - y_F) + reg @ w * len(z))
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return lambda x: np.column_stack([np.ones(len(x)), (x - mu) / sd]) @ w > 0


def cross_validate(x_FxS: np.ndarray, y_F: np.ndarray, groups_F: np.ndarray) -> dict:
    """Each group's features predicted by a model fitted on the other groups (module docstring);
    ``baseline``: always predicting the majority outcome of all features (a constant predictor knowing
    it, so a little better than one fitted on the other groups). With one group, 5 folds over features."""
    y_F = np.asarray(y_F, bool)
    if len(np.unique(groups_F)) < 2:
        groups_F = np.arange(len(y_F)) % 5
    pred = np.zeros(len(y_F), bool)
    for g in np.unique(groups_F):
        test = groups_F == g
        y_train = y_F[~test]
        if y_train.all() or not y_train.any():
            pred[test] = bool(y_train.mean() >= 0.5) if y_train.size else True
        else:
            pred[test] = fit_logistic(x_FxS[~test], y_train.astype(np.float64))(x_FxS[test])
    share = float(y_F.mean()) if y_F.size else float("nan")
    return {"accuracy": float((pred == y_F).mean()) if y_F.size else float("nan"),
            "baseline": max(share, 1.0 - share),
            "features": int(y_F.size), "networks": len(np.unique(groups_F)), "predicted": pred}


def prediction(networks: list[Network], tol: float) -> dict:
    """Cross-validated accuracy of the channel-statistics predictor against the majority baseline,
    the parameter-free rule "a non-empty channel not contained in another computes", and both
    within the networks that compute some but not all of their features."""
    stats = [ch.channel_stats(ch.sign_pattern(t.net, tol), t.pairs_Kx2) for t in networks]
    x = np.concatenate([features_matrix(s) for s in stats]) if stats else np.zeros((0, len(STATS)))
    y = np.concatenate([t.computed_K for t in networks]) if networks else np.zeros(0, bool)
    groups = np.concatenate([np.full(len(t.pairs_Kx2), i) for i, t in enumerate(networks)]) if networks else np.zeros(0)
    cv = cross_validate(x, y, groups)
    rule = np.concatenate([(s["size"] > 0) & (s["containment"] < 1) for s in stats]) if stats else np.zeros(0, bool)
    mixed = np.isin(groups, [i for i, t in enumerate(networks) if 0 < t.computed_K.mean() < 1])
    own_majority = (np.concatenate([np.full(len(t.computed_K), t.computed_K.mean() >= 0.5) for t in networks])
                    if networks else y)
    pred = cv.pop("predicted")
    return {**cv, "tol": tol, "rule": float((rule == y).mean()) if y.size else float("nan"),
            "computed": float(y.mean()) if y.size else float("nan"),
            "mixed": {"networks": int(sum(0 < t.computed_K.mean() < 1 for t in networks)), "features": int(mixed.sum()),
                      "accuracy": float((pred == y)[mixed].mean()) if mixed.any() else None,
                      "baseline": float((own_majority == y)[mixed].mean()) if mixed.any() else None}}


# ----------------------------------------------------------------------------------- the reading


def interpret_run(run_dir: str | Path, rows: list[dict], out_dir: str | Path, *, seeds=None,
                  members: int | None = None, tol: float = ch.TOL) -> dict:
    """Channels of a superposition run's networks: {"figures", "summary", "text", "captions"}, the
    figures written to ``out_dir`` (lab.interpretation saves the rest beside them).

    ``seeds`` (default: the run's first seed) and ``members`` (default: all of those seeds) choose
    the re-trained members; ``tol`` is the sign pattern's tolerance (lab.experiments.superposition.channels).
    """
    from lab.experiments.superposition import interpret_figures

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    meta = store.read_meta(run_dir)
    exp = experiment.get("superposition")
    criterion = Criterion(**{k: v for k, v in meta["identity"]["success"].items() if k in exp.success_fields()})
    chosen = [r for r in select(rows, seeds, members) if r["op"] in OPS]
    if not chosen:
        ops = sorted({r["op"] for r in rows})
        text = (f"No network read: channels are defined for the ops {', '.join(OPS)} "
                f"(lab.experiments.superposition.channels); this run has {', '.join(ops) or 'no rows'}.")
        return {"figures": [], "summary": {"networks": 0}, "text": text, "captions": {}}
    found = retrain(run_dir, chosen, meta)
    trained = [trained_network(r, found[r["id"]], criterion) for r in chosen]
    built = constructions(trained, criterion)
    per_network = [_network_summary(t, c, tol) for t, c in zip(trained, built)]
    summary = {
        "tol": tol, "seeds": sorted({t.member.seed for t in trained}), "networks": len(trained),
        "reproduced": {"features": int(sum(t.computed_K.size for t in trained)),
                       "agree": int(sum((t.computed_K == t.stored_K).sum() for t in trained)),
                       "networks_agree": int(sum(bool((t.computed_K == t.stored_K).all()) for t in trained))},
        "prediction": prediction(trained, tol),
        "construction_prediction": prediction(built, tol),
        "tolerance": [{**{k: v for k, v in prediction(trained, t).items() if k in ("tol", "accuracy", "baseline", "rule")},
                       "neurons_per_feature": _mean([ch.summary(ch.channel_stats(ch.sign_pattern(n.net, t), n.pairs_Kx2))
                                                     ["neurons_per_feature"] for n in trained])} for t in TOLS],
        "per_network": per_network,
    }
    figures = interpret_figures.figures(trained, built, tol, out_dir)
    return {"figures": figures, "summary": summary, "text": report_text(summary), "captions": interpret_figures.CAPTIONS}


def _network_summary(t: Network, c: Network, tol: float) -> dict:
    out = {"id": experiment.member_id(t.member), "n": t.member.n, "m_out": t.member.m_out, "seed": t.member.seed,
           "scheme": c.scheme}
    for name, net in (("trained", t), ("construction", c)):
        pattern = ch.sign_pattern(net.net, tol)
        stats = ch.channel_stats(pattern, net.pairs_Kx2)
        in_channel = stats["load_N"] > 0
        out[name] = {**ch.summary(stats), "computed": float(net.computed_K.mean()),
                     "negative_bias": float((pattern.bias_N[in_channel] < 0).mean()) if in_channel.any() else None,
                     "sizes": stats["size"].tolist()}
    out["trained"]["stored"] = float(t.stored_K.mean())
    return out


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def _pct(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{100 * x:.0f}%"


def width_table(per_network: list[dict]) -> list[str]:
    """Markdown rows per width, pooled over its networks' features and neurons: trained / construction."""
    columns = ("computed", "neurons per feature", "features per neuron")
    lines = ["| n | networks | features | " + " | ".join(f"{c}: trained / construction" for c in columns) + " |",
             "|---|---|---|---|---|---|"]
    for n in sorted({r["n"] for r in per_network}):
        group = [r for r in per_network if r["n"] == n]
        k = sum(r["m_out"] for r in group)
        cells = []
        for stat in ("computed", "neurons_per_feature"):  # feature-weighted
            cells.append([sum(r[src][stat] * r["m_out"] for r in group) / k for src in ("trained", "construction")])
        load = [sum(r[src]["features_per_neuron"] for r in group) / len(group) for src in ("trained", "construction")]
        lines.append(f"| {n} | {len(group)} | {k} | {_pct(cells[0][0])} / {_pct(cells[0][1])} "
                     f"| {cells[1][0]:.1f} / {cells[1][1]:.1f} | {load[0]:.1f} / {load[1]:.1f} |")
    return lines


def report_text(summary: dict) -> str:
    """The reading in Markdown, for the report and RUN_DIR/interpret/interpret.md: what was read, the
    trained networks beside the constructions, the prediction, the tolerance's effect."""
    rep, pred, cons = summary["reproduced"], summary["prediction"], summary["construction_prediction"]
    seeds = ", ".join(str(s) for s in summary["seeds"])
    intro = (
        f"Feature channels read statically from the sign pattern of the weights (combinatorial interpretability, "
        f"arXiv 2504.08842): a weight is ~0 when at most {summary['tol']:g} × the largest weight of its input's code, "
        f"output's readout or neuron; the channel of feature (a, b) is the set of neurons on which a and b both carry a + "
        f"weight and which output (a, b) reads with a + weight (definitions: docs/interpret.md). "
        f"{summary['networks']} networks (seed {seeds}) were trained again and read over features (embedding and decoder "
        f"folded in); their verdicts reproduce the run's for {rep['agree']} of {rep['features']} features "
        f"({rep['networks_agree']} of {summary['networks']} networks identical). Each is set beside the explicit "
        f"construction at the same n, m' and pairs (raw inputs and outputs; one neuron per feature when n ≥ m', "
        f"else a sparse code with dedicated repairs)."
    )
    columns = ("computed", "neurons per feature", "features per neuron", "containment")
    table = ["| n | m' | " + " | ".join(f"{c}: trained / construction" for c in columns) + " |", "|---|---|---|---|---|---|"]
    for r in summary["per_network"]:
        t, c = r["trained"], r["construction"]
        table.append(f"| {r['n']} | {r['m_out']} | {_pct(t['computed'])} / {_pct(c['computed'])} "
                     f"| {t['neurons_per_feature']:.1f} / {c['neurons_per_feature']:.1f} "
                     f"| {t['features_per_neuron']:.1f} / {c['features_per_neuron']:.1f} "
                     f"| {t['containment']:.2f} / {c['containment']:.2f} |")
    if len(summary["per_network"]) > 12:  # folded, as lab.report folds long tables, after one row per width
        table = [*width_table(summary["per_network"]), "",
                 f"<details><summary>{len(summary['per_network'])} networks (click to unfold)</summary>", "", *table,
                 "", "</details>"]
    neg_t = _mean([r["trained"]["negative_bias"] for r in summary["per_network"]])
    neg_c = _mean([r["construction"]["negative_bias"] for r in summary["per_network"]])
    bias = (f"Channel neurons with a negative bias (the AND threshold of the constructions): {_pct(neg_t)} in the "
            f"trained networks, {_pct(neg_c)} in the constructions.")
    mixed = pred["mixed"]
    if mixed["networks"]:
        within = (f" Within the {mixed['networks']} networks that compute some but not all of their features "
                  f"({mixed['features']} features) it is right on {_pct(mixed['accuracy'])}, against "
                  f"{_pct(mixed['baseline'])} for each network's own majority outcome.")
    else:
        within = (" No network computes some but not all of its features, so this says nothing about which features "
                  "of one network fail.")
    prediction_text = (
        f"**Predicting a feature's verdict from its channel statistics alone** (channel size, leak, containment, "
        f"private neurons, load; ridge logistic regression, each network predicted by a model fitted on the others): "
        f"{_pct(pred['accuracy'])} of {pred['features']} features right, against {_pct(pred['baseline'])} for predicting "
        f"the majority outcome for all ({_pct(pred['computed'])} computed). The parameter-free rule \"a non-empty "
        f"channel not contained in another channel is computed\" is right on {_pct(pred['rule'])}.{within} On the "
        f"constructions the same rule is right on {_pct(cons['rule'])} ({_pct(cons['computed'])} computed)."
    )
    tolerance = ["| tolerance | neurons per feature (trained) | prediction accuracy | baseline | rule |",
                 "|---|---|---|---|---|"]
    tolerance += [f"| {t['tol']:g} | {t['neurons_per_feature']:.1f} | {_pct(t['accuracy'])} | {_pct(t['baseline'])} "
                  f"| {_pct(t['rule'])} |" for t in summary["tolerance"]]
    lines = [intro, "", *table, "", bias, "", prediction_text, "", *tolerance]
    return "\n".join(lines)
