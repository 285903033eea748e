"""Experiment kind ``superposition``: one-hidden-layer ReLU networks computing sparse Boolean features.

Tests the capacity law of Adler & Shavit (arXiv 2409.15318): n neurons compute at most
O(n²/log n) features; pairwise AND of m' outputs needs Ω(√(m' log m')) neurons. One member trains a
MaskedMLP of width n on m' outputs of a BooleanTask; widths and m' are padded inside a bucket.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from lab import experiment
from lab.boolean_task import BooleanTask, apply_op, feature_embedding, local_assignments, sample_inputs, sample_pairs, targets
from lab.criterion import Criterion, class_probs, feature_scores, scored_exactly, success
from lab.losses import weighted_bce
from lab.mlp import MaskedMLP, forward, matmul, shared_matmul, width_mask
from lab.training import TrainConfig, train_loop

LOSSES = ("bce", "mse")


@dataclass(frozen=True)
class SuperpositionMember:
    """One network to train: task (m, op, s | p, d), width n, outputs m_out, lr, seed."""

    m: int = 64  # input features
    op: str = "and"  # and | or | xor | perm
    s: int | None = 3  # exactly s inputs active (or give p)
    p: float | None = None  # each input active with probability p
    d: int | None = None  # inputs in superposition: dimension of the feature embedding
    d_out: int | None = None  # outputs in superposition: readout dimension (None: m' raw output units)
    n: int = 16  # hidden neurons
    m_out: int = 16  # output features m'
    lr: float = 1e-2
    objective: str = "bce"  # bce (logits) | mse (outputs in [0, 1])
    balance: bool = True  # weight positives as much as near misses in the loss (class_weights)
    # share of each training batch in which a random feature's own inputs are forced to a class
    # (both on / only a / only b), so every feature sees positives and near misses often; the
    # criterion still scores under the task's input distribution
    oversample: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if self.s is not None and self.p is not None:
            raise ValueError("give only one of s and p (set s = none to use p)")
        task = self.task  # validates m, op, s, p, d
        if self.n < 1:
            raise ValueError(f"n (width) must be positive, got {self.n}")
        if not 1 <= self.m_out <= task.max_outputs:
            raise ValueError(
                f"m_out must be in [1, {task.max_outputs}] ({self.op} over m={self.m} has "
                f"{task.max_outputs} distinct outputs), got {self.m_out}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.objective not in LOSSES:
            raise ValueError(f"objective must be one of {LOSSES}, got {self.objective!r}")
        if self.d_out is not None and self.d_out < 1:
            raise ValueError(f"d_out (output superposition dimension) must be positive, got {self.d_out}")
        if not 0 <= self.oversample < 1:
            raise ValueError(f"oversample (share of each batch with a forced feature) must be in [0, 1), got {self.oversample}")
        if self.oversample > 0 and self.s is None:
            raise ValueError("oversample needs exactly-s inputs (s), not Bernoulli inputs (p)")

    @property
    def task(self) -> BooleanTask:
        return BooleanTask(m=self.m, op=self.op, s=self.s, p=self.p, d=self.d)


def class_weights(task: BooleanTask) -> tuple[float, float]:
    """(P(target = 1), weight of positives) that balances positives against near misses.

    The criterion bounds the false-negative rate on positives and the false-positive rate on near
    misses equally, so the loss weights a positive by P(near miss) / P(positive).
    """
    _, pos, near = local_assignments(task.op)
    probs = class_probs(task)
    if task.op == "perm":  # local_assignments lists (off, on) for perm
        probs = probs[[0, 3]]
    q = float(probs[pos].sum())
    return q, max(float(probs[near].sum()) / q, 1.0)


def readout_vectors(key: jax.Array, d_out: int, k_max: int) -> jax.Array:
    """Random unit vectors v_j in R^d_out reading output feature j, shape (d_out, k_max).

    Column j depends only on (key, j), so members of different m' padded to k_max share them.
    """
    cols_KxO = jax.vmap(lambda j: jax.random.normal(jax.random.fold_in(key, j), (d_out,)))(jnp.arange(k_max))
    return (cols_KxO / jnp.linalg.norm(cols_KxO, axis=1, keepdims=True)).T


def member_keys(root: jax.Array) -> dict[str, jax.Array]:
    """Independent streams of one member's root key."""
    names = ("task", "init", "data", "eval", "embed", "readout")
    return {name: jax.random.fold_in(root, i) for i, name in enumerate(names)}


def data_key(task: BooleanTask) -> jax.Array:
    """The batch stream shared by every member of a task (TrainConfig.data = "task").

    It depends on the task identity alone, so members that share a bucket draw the same batches
    whatever else is in their population, and a member's run equals its solo run.
    """
    return jax.random.key(experiment.stable_hash(f"superposition-data:{task!r}"))


def forced_inputs(key: jax.Array, task: BooleanTask, pairs_Kx2: jax.Array, m_out: jax.Array, batch: int):
    """Training inputs in which a random feature's own inputs are forced to a class.

    Each sample picks a class (both on, only a, only b, with equal odds) and a feature j < m_out;
    its background holds s - c other active inputs when c are forced on (up to collisions with
    the forced ones). Returns (background (F, m), add_a (F,), add_b (F,), a (F,), b (F,)): the
    input is background + add_a·e_a + add_b·e_b. The background, classes and uniforms come from
    ``key`` alone, so under a shared data stream the population shares them; only the chosen
    feature's inputs are per member.
    """
    k_cls, k_feat, k1, k2 = jax.random.split(key, 4)
    cls_F = jax.random.randint(k_cls, (batch,), 0, 3)  # 0: both on, 1: only a, 2: only b
    u_F = jax.random.uniform(k_feat, (batch,))
    x1_FxM = background_inputs(k1, task, batch, 1)
    x2_FxM = background_inputs(k2, task, batch, 2)
    x_FxM = jnp.where((cls_F == 0)[:, None], x2_FxM, x1_FxM)
    j_F = jnp.minimum((u_F * m_out.astype(jnp.float32)).astype(jnp.int32), m_out - 1)
    a_F, b_F = pairs_Kx2[j_F, 0], pairs_Kx2[j_F, 1]
    distinct_F = (a_F != b_F).astype(jnp.float32)
    rows = jnp.arange(batch)
    add_a_F = (cls_F <= 1).astype(jnp.float32) * (1.0 - x_FxM[rows, a_F])
    add_b_F = ((cls_F != 1).astype(jnp.float32) * distinct_F) * (1.0 - x_FxM[rows, b_F])
    return x_FxM, add_a_F, add_b_F, a_F, b_F


def background_inputs(key: jax.Array, task: BooleanTask, batch: int, n_forced: int) -> jax.Array:
    """Exactly-(s - n_forced) inputs, shape (batch, m) (all zeros when none are left)."""
    s_rest = task.s - n_forced
    if s_rest <= 0:
        return jnp.zeros((batch, task.m))
    return sample_inputs(key, BooleanTask(m=task.m, op=task.op, s=s_rest, d=task.d), batch)


def make_train(static: Mapping[str, Any], train_cfg: TrainConfig, criterion: Criterion):
    """Build train(root_key, hyper) for one bucket; hyper = {lr, n, m_out} (scalars per member).

    With ``train_cfg.data == "task"`` the batches come from ``data_key(task)``: under the engine's
    vmap they are not batched, so the first layer of the whole population is one large matrix
    product, x_BxM @ [w_in of every member], and sampling costs one draw per step, not one per member.
    """
    task = BooleanTask(m=static["m"], op=static["op"], s=static["s"], p=static["p"], d=static["d"])
    n_max, k_max = static["n"], static["m_out"]
    model = MaskedMLP(n_max=n_max, k_max=k_max)
    q, pos_weight = class_weights(task)
    pos_weight = pos_weight if static["balance"] else 1.0
    decision = 0.0 if static["objective"] == "bce" else 0.5
    d_out = static.get("d_out")
    read_offset = 1.0 if static["objective"] == "bce" else 0.0
    if d_out is not None:  # the network's outputs live in R^d_out; feature j is read along v_j
        model = MaskedMLP(n_max=n_max, k_max=d_out)
    shared_key = data_key(task) if train_cfg.data == "task" else None

    def train(root: jax.Array, hyper: Mapping[str, jax.Array]):
        keys = member_keys(root)
        pairs_Kx2 = sample_pairs(keys["task"], task, k_max)
        emb_MxD = feature_embedding(keys["embed"], task.m, task.d) if task.d is not None else None
        read_OxK = readout_vectors(keys["readout"], d_out, k_max) if d_out is not None else None

        def features(params):
            """Parameters with the output superposition folded in: w_out_NxK, b_out_K read per feature.

            Feature j of the output y in R^d_out is read by a fixed decoder, v_j·y > read_offset
            (logit v_j·y - 1 for bce): the threshold is not learned, so all capacity lies in the
            network's weights. Without the offset every feature would fire on y = 0 unless all
            v_j·y < 0, which no y achieves for m' > 2·d_out random directions (Wendel, 1962).
            """
            if read_OxK is None:
                return params
            b_K = params["b_out_K"] @ read_OxK - read_offset
            return {**params, "w_out_NxK": params["w_out_NxK"] @ read_OxK, "b_out_K": b_K}
        out_mask_K = (jnp.arange(k_max) < hyper["m_out"]).astype(jnp.float32)
        mask_N = width_mask(n_max, hyper["n"])
        # loss weights: positives weighted pos_weight, normalised so the mean weight is 1; with
        # oversampling the batch itself holds the positives and near misses, unweighted
        if static.get("oversample", 0.0) > 0:
            w_pos, w_neg = 1.0, 1.0
        else:
            w_pos, w_neg = pos_weight / (1.0 + (pos_weight - 1.0) * q), 1.0 / (1.0 + (pos_weight - 1.0) * q)
        scale = 1.0 / (train_cfg.batch * hyper["m_out"].astype(jnp.float32))

        n_forced = int(round(train_cfg.batch * static.get("oversample", 0.0)))

        def natural_loss(params, batch_key, w_in_MxN):
            x_BxM = sample_inputs(batch_key, task, train_cfg.batch - n_forced)
            # two column gathers of the shared x: with the loss value off the gradient path
            # (lab.training.logged_steps) XLA fuses them into the gradient pass, cheaper than a
            # per-member x @ S product (large population: 1.38k -> 1.85k model-steps/s)
            y_BxK = targets(x_BxM, pairs_Kx2, task.op)
            out_BxK = forward(features(params), x_BxM, mask_N, w_in_MxN)
            return objective(out_BxK, y_BxK)

        def forced_loss(params, batch_key, w_in_MxN):
            x_FxM, add_a_F, add_b_F, a_F, b_F = forced_inputs(batch_key, task, pairs_Kx2, hyper["m_out"], n_forced)
            # the forced inputs are the shared background plus at most two ones: a rank-2 update
            z_FxN = shared_matmul(x_FxM, w_in_MxN) + add_a_F[:, None] * w_in_MxN[a_F] + add_b_F[:, None] * w_in_MxN[b_F]
            h_FxN = jax.nn.relu(z_FxN + params["b_in_N"]) * mask_N
            p = features(params)
            out_FxK = matmul(h_FxN, p["w_out_NxK"]) + p["b_out_K"]
            x_forced_FxM = x_FxM + add_a_F[:, None] * jax.nn.one_hot(a_F, task.m) + add_b_F[:, None] * jax.nn.one_hot(b_F, task.m)
            return objective(out_FxK, targets(x_forced_FxM, pairs_Kx2, task.op))

        def objective(out_BxK, y_BxK):
            w_BxK = (w_neg + (w_pos - w_neg) * y_BxK) * out_mask_K
            if static["objective"] == "bce":
                return weighted_bce(out_BxK, y_BxK, w_BxK) * scale
            return (w_BxK * (out_BxK - y_BxK) ** 2).sum() * scale

        def loss_fn(params, batch_key):
            # embedded inputs: (x E) W = x (E W), so the population still shares the product with x
            w_in_MxN = params["w_in_DxN"] if emb_MxD is None else emb_MxD @ params["w_in_DxN"]
            loss = natural_loss(params, batch_key, w_in_MxN) if n_forced < train_cfg.batch else 0.0
            if n_forced:
                loss = loss + forced_loss(params, jax.random.fold_in(batch_key, 1), w_in_MxN)
            return loss

        def evaluate(params):
            scores = feature_scores(features(params), hyper["n"], pairs_Kx2, task, emb_MxD, keys["eval"], criterion, decision)
            per_feature = {"fnr": scores["fnr"], "fpr": scores["fpr_max"], "precision": scores["precision"]}
            return {**success(scores, hyper["m_out"], criterion), **per_feature}

        x0 = jnp.zeros((1, task.input_dim))
        params = model.init(keys["init"], x0, hyper["n"])["params"]
        return train_loop(
            params, loss_fn=loss_fn, evaluate=evaluate, data_key=keys["data"] if shared_key is None else shared_key,
            learning_rate=hyper["lr"], cfg=train_cfg,
        )

    return train


def dedicated_network(member: SuperpositionMember) -> tuple[dict, jax.Array, jax.Array | None]:
    """The naive baseline in the member's own setting: one neuron per feature, m' = n.

    Neuron j reads the (possibly superposed) input along e_a + e_b with bias -1, so it fires when
    both of its inputs are on (perm: along 2 e_a), and writes 2·v_j into the
    (possibly superposed) output, which the decoder reads as 2 Σ_k h_k v_k·v_j - 1. Exact with
    raw inputs and outputs; interference between the superposed directions is all that can make
    it fail. Returns (parameters with the readout folded in, pairs (m', 2), embedding or None),
    drawn from the member's own keys, so it faces the same task instance as the trained member.
    """
    task, k = member.task, member.m_out
    keys = member_keys(experiment.member_key(EXPERIMENT, member))
    pairs_Kx2 = sample_pairs(keys["task"], task, k)
    emb_MxD = feature_embedding(keys["embed"], task.m, task.d) if task.d is not None else None
    e_MxD = emb_MxD if emb_MxD is not None else jnp.eye(task.m)
    w_in_DxK = (e_MxD[pairs_Kx2[:, 0]] + e_MxD[pairs_Kx2[:, 1]]).T  # perm (a = b): 2 e_a
    b_in_K = -jnp.ones(k)
    if member.d_out is None:
        w_out_KxK, b_out_K = 2.0 * jnp.eye(k), -jnp.ones(k)
    else:
        read_OxK = readout_vectors(keys["readout"], member.d_out, k)
        w_out_KxK, b_out_K = 2.0 * read_OxK.T @ read_OxK, -jnp.ones(k)
    if member.objective != "bce":  # mse reads outputs at 1/2: scale the logit-style read into [0, 1]
        w_out_KxK, b_out_K = 0.5 * w_out_KxK, 0.5 * b_out_K + 0.5
    params = {"w_in_DxN": w_in_DxK, "b_in_N": b_in_K, "w_out_NxK": w_out_KxK, "b_out_K": b_out_K}
    return params, pairs_Kx2, emb_MxD


def dedicated_baseline(member: SuperpositionMember, criterion: Criterion) -> dict:
    """Scores of ``dedicated_network`` under the criterion: success, n_ok, frac_ok, worst rates."""
    params, pairs_Kx2, emb_MxD = dedicated_network(member)
    k = member.m_out
    decision = 0.0 if member.objective == "bce" else 0.5
    key = member_keys(experiment.member_key(EXPERIMENT, member))["eval"]
    scores = feature_scores(params, jnp.int32(k), pairs_Kx2, member.task, emb_MxD, key, criterion, decision)
    return {name: float(v) for name, v in success(scores, jnp.int32(k), criterion).items()}


def cost(shape: Mapping[str, Any]) -> float:
    """FLOPs of one training step relative to others (dense forward+backward)."""
    d_in = shape["d"] or shape["m"]
    return float(shape["n"] * (d_in + shape["m_out"]))


def bytes_per_member(shape: Mapping[str, Any], train_cfg: TrainConfig, criterion: Criterion) -> int:
    """Rough peak memory of one member in a vmapped program (params, Adam, activations, eval)."""
    d_in, n, k = shape["d"] or shape["m"], shape["n"], shape["m_out"]
    o = shape.get("d_out") or 0  # outputs in superposition: weights n x d_out, readout d_out x m'
    params = d_in * n + n * k + n + k + o * (n + k + 1)
    acts = train_cfg.batch * (shape["m"] + 3 * n + 3 * k + 3 * o)
    task = BooleanTask(m=shape["m"], op=shape["op"], s=shape["s"], p=shape["p"], d=shape["d"])
    if scored_exactly(task, criterion):
        evals = 2048 * (n + 12 * k)  # one chunk of enumerated inputs: hidden, outputs, class one-hots
    else:
        evals = criterion.samples * 4 * n * min(k, 64) * 2 + criterion.samples * n
    return 4 * (5 * params + acts + evals + 2 * train_cfg.evals * k)


def row_metrics(member: SuperpositionMember, metrics: dict) -> dict:
    """Per-member metrics for the results store; per-feature scores trimmed to m_out (last eval)."""
    per_feature = ("fnr", "fpr", "precision")
    out = {k: np.asarray(v).tolist() for k, v in metrics.items() if k not in per_feature}
    for name in per_feature:
        out[f"{name}_final"] = [round(float(v), 5) for v in np.asarray(metrics[name])[-1, : member.m_out]]
    return out


def success_text(success: Mapping[str, Any]) -> str:
    """The criterion in words, for reports (lab.criterion)."""
    c = Criterion(**{k: v for k, v in success.items() if k in {f.name for f in dataclasses.fields(Criterion)}})
    share = "all" if c.fraction >= 1 else f"at least {c.fraction:.0%}"
    return (f"a feature is computed when its false-negative rate and its false-positive rate on each negative class "
            f"(only a on, only b on, neither) are at most ε = {c.epsilon:g} and its precision is at least {1 - c.epsilon:g}, "
            f"scored exactly over every s-sparse input when there are at most {c.max_inputs} of them (else on "
            f"{c.samples} sampled inputs per class); a network succeeds when {share} of its m' features are computed. "
            "Capacity views: features computed (the most over m'), m' with 90% computed, m' with all computed")


EXPERIMENT = experiment.register(
    experiment.Experiment(
        name="superposition",
        member=SuperpositionMember,
        traced=("lr",),
        padded=("n", "m_out"),
        identity=("m", "op", "s", "p", "d"),
        make_train=make_train,
        cost=cost,
        bytes_per_member=bytes_per_member,
        row_metrics=row_metrics,
        analysis=experiment.Analysis(
            resource="m_out",
            direction="decreasing",
            series=("m", "op", "s", "p", "d", "d_out", "n", "objective", "balance", "oversample"),
            laws=("n2_over_log", "power", "n2", "n_log_n", "linear"),
            covariates=("n",),
            fit_by=("m", "op", "s", "p", "objective", "balance", "oversample", "lr"),
            views=("frac90", "all", "computed"),
        ),
        description="one-hidden-layer ReLU MLPs computing sparse Boolean features (arXiv 2409.15318)",
        success_text=success_text,
    )
)
