"""Training a superposition member: the loss, the forced-class oversampling and the evaluation.

One member trains a MaskedMLP of width n on m' outputs of a BooleanTask (lab.experiments.superposition.task);
widths and m' are padded inside a bucket. ``make_train`` is what the engine vmaps and jits.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from lab import experiment
from lab.experiments.superposition.criterion import Criterion
from lab.experiments.superposition.mlp import MaskedMLP, forward, matmul, shared_matmul, width_mask
from lab.experiments.superposition.scoring import class_probs, feature_scores, success
from lab.experiments.superposition.task import (BooleanTask, background_task, below_from_words, feature_embedding, input_words,
                                                inputs_from_words, local_assignments, sample_pairs, targets, uniform_from_words)
from lab.losses import weighted_bce
from lab.training import TrainConfig, train_loop


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

    Column j depends only on (key, j), so members of different m' padded to k_max share them:
    JAX's threefry draws element i of an array from (key, i) (jax_threefry_partitionable, the
    default), so the rows of a (k_max, d_out) draw are a prefix of any larger one.
    """
    cols_KxO = jax.random.normal(key, (k_max, d_out))
    return (cols_KxO / jnp.linalg.norm(cols_KxO, axis=1, keepdims=True)).T


STREAMS = ("task", "init", "data", "eval", "embed", "readout")


def member_keys(root: jax.Array) -> dict[str, jax.Array]:
    """Independent streams of one member's root key (one split: one random draw to compile)."""
    return dict(zip(STREAMS, jax.random.split(root, len(STREAMS))))


def data_key(task: BooleanTask) -> jax.Array:
    """The batch stream shared by every member of a task (TrainConfig.data = "task").

    It depends on the task identity alone, so members that share a bucket draw the same batches
    whatever else is in their population, and a member's run equals its solo run.
    """
    return jax.random.key(experiment.stable_hash(f"superposition-data:{task!r}"))


def forced_inputs(words: jax.Array, task: BooleanTask, pairs_Kx2: jax.Array, m_out: jax.Array, batch: int):
    """Training inputs in which a random feature's own inputs are forced to a class.

    Each sample picks a class (both on, only a, only b, with equal odds) and a feature j < m_out;
    its background holds s - c other active inputs when c are forced on (up to collisions with
    the forced ones). Returns (background (F, m), add_a (F,), add_b (F,), a (F,), b (F,)): the
    input is background + add_a·e_a + add_b·e_b. Everything comes from ``words``, the
    ``forced_words(task, batch)`` uniform 32-bit words of the step, so under a shared data stream
    the population shares the background and classes; only the chosen feature's inputs are per member.
    """
    w1, w2 = background_words(task)
    cls_F = below_from_words(words[:batch], 3)  # 0: both on, 1: only a, 2: only b
    u_F = uniform_from_words(words[batch:2 * batch])
    x1_FxM = background_inputs(words[2 * batch:(2 + w1) * batch].reshape(w1, batch), task, 1)
    x2_FxM = background_inputs(words[(2 + w1) * batch:].reshape(w2, batch), task, 2)
    x_FxM = jnp.where((cls_F == 0)[:, None], x2_FxM, x1_FxM)
    j_F = jnp.minimum((u_F * m_out.astype(jnp.float32)).astype(jnp.int32), m_out - 1)
    a_F, b_F = pairs_Kx2[j_F, 0], pairs_Kx2[j_F, 1]
    distinct_F = (a_F != b_F).astype(jnp.float32)
    rows = jnp.arange(batch)
    add_a_F = (cls_F <= 1).astype(jnp.float32) * (1.0 - x_FxM[rows, a_F])
    add_b_F = ((cls_F != 1).astype(jnp.float32) * distinct_F) * (1.0 - x_FxM[rows, b_F])
    return x_FxM, add_a_F, add_b_F, a_F, b_F


def background_words(task: BooleanTask) -> tuple[int, int]:
    """Words per input of the backgrounds with one and with two inputs forced on."""
    rests = (background_task(task, 1), background_task(task, 2))
    return tuple(0 if r is None else input_words(r) for r in rests)


def forced_words(task: BooleanTask, batch: int) -> int:
    """Random 32-bit words ``forced_inputs`` takes for ``batch`` inputs: class, feature, backgrounds."""
    return batch * (2 + sum(background_words(task)))


def background_inputs(words_WxF: jax.Array, task: BooleanTask, n_forced: int) -> jax.Array:
    """The background (F, m) with ``n_forced`` inputs forced on (``task.background_task``), from
    its words; all zeros when no other input is left."""
    rest = background_task(task, n_forced)
    return jnp.zeros((words_WxF.shape[1], task.m)) if rest is None else inputs_from_words(words_WxF, rest)


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

        n_natural = train_cfg.batch - n_forced
        words_natural = input_words(task) * n_natural

        def sample(batch_key):
            """The step's batch: natural inputs and the forced-class inputs (see forced_inputs),
            from one random draw (one threefry per step: its kernels are most of a CPU compile)."""
            words = jax.random.bits(batch_key, (words_natural + forced_words(task, n_forced),), jnp.uint32)
            natural = inputs_from_words(words[:words_natural].reshape(-1, n_natural), task) if n_natural else None
            forced = forced_inputs(words[words_natural:], task, pairs_Kx2, hyper["m_out"], n_forced) if n_forced else None
            return natural, forced

        def natural_loss(params, x_BxM, w_in_MxN):
            # two column gathers of the shared x: with the loss value off the gradient path
            # (lab.training.logged_steps) XLA fuses them into the gradient pass, cheaper than a
            # per-member x @ S product (large population: 1.38k -> 1.85k model-steps/s)
            y_BxK = targets(x_BxM, pairs_Kx2, task.op)
            out_BxK = forward(features(params), x_BxM, mask_N, w_in_MxN)
            return objective(out_BxK, y_BxK)

        def forced_loss(params, forced, w_in_MxN):
            x_FxM, add_a_F, add_b_F, a_F, b_F = forced
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

        def loss_fn(params, batch):
            # embedded inputs: (x E) W = x (E W), so the population still shares the product with x
            natural, forced = batch
            w_in_MxN = params["w_in_DxN"] if emb_MxD is None else emb_MxD @ params["w_in_DxN"]
            loss = natural_loss(params, natural, w_in_MxN) if natural is not None else 0.0
            if forced is not None:
                loss = loss + forced_loss(params, forced, w_in_MxN)
            return loss

        def evaluate(params):
            scores = feature_scores(features(params), hyper["n"], pairs_Kx2, task, emb_MxD, keys["eval"], criterion, decision)
            per_feature = {"fnr": scores["fnr"], "fpr": scores["fpr_max"], "precision": scores["precision"]}
            return {**success(scores, hyper["m_out"], criterion), **per_feature}

        x0 = jnp.zeros((1, task.input_dim))
        params = model.init(keys["init"], x0, hyper["n"])["params"]
        return train_loop(
            params, loss_fn=loss_fn, evaluate=evaluate, data_key=keys["data"] if shared_key is None else shared_key,
            learning_rate=hyper["lr"], cfg=train_cfg, sample=sample,
        )

    return train


