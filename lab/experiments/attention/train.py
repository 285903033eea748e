"""Training an attention member: task instance, pair-wise logistic loss and ``make_train``.

One member trains a scorer (lab.experiments.attention.model: ``bilinear`` or ``softmax``) on contexts
drawn inside the loop (lab.experiments.attention.task); D_K is padded (key-dimension masks), m' and the
degree are traced (nested graphs) and heads are padded too, so a bucket trains
seeds × D_K × h × m' × lr in one program.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax

from lab import experiment
from lab.experiments.attention.model import bilinear_pair_logits, make_model, shared_take
from lab.experiments.attention.success import AttentionSuccess
from lab.experiments.attention.task import adjacency, context_indicator, context_targets, edge_metrics, graph_ranks, item_embeddings, sample_contexts
from lab.losses import weighted_bce
from lab.training import TrainConfig, train_loop


COUNT_FORM_MAX_RATIO = 4  # m² / (B·c²) up to which a bilinear loss scores all item pairs (make_train)


def member_keys(root: jax.Array) -> dict[str, jax.Array]:
    """Independent streams of one member's root key."""
    names = ("graph", "embed", "init", "data", "eval")
    return {name: jax.random.fold_in(root, i) for i, name in enumerate(names)}


def task_instance(root: jax.Array, static: Mapping[str, Any], m_edges, degree) -> tuple[jax.Array, jax.Array]:
    """(embeddings (m, d_model), adjacency (m, m)) of a member from its root key."""
    keys = member_keys(root)
    emb_MxD = item_embeddings(keys["embed"], static["m"], static["d_model"])
    ranks_MxM = graph_ranks(keys["graph"], static["m"], static["graph"])
    return emb_MxD, adjacency(ranks_MxM, static["graph"], m_edges, degree)


def pair_loss(logits_BxCxC: jax.Array, y_BxCxC: jax.Array, pos_weight: float) -> jax.Array:
    """Weighted logistic loss per pair, averaged (edges weighted ``pos_weight``)."""
    w = 1.0 + (pos_weight - 1.0) * y_BxCxC
    return weighted_bce(logits_BxCxC, y_BxCxC, w) / y_BxCxC.size


def shared_targets(adj_MxM: jax.Array, ctx_BxC: jax.Array) -> jax.Array:
    """``context_targets`` (B, c, c), gathered for the population at once when it shares the contexts."""
    m = adj_MxM.shape[0]
    return shared_take(adj_MxM.reshape(m * m), ctx_BxC[:, :, None] * m + ctx_BxC[:, None, :])


def data_key(m: int, context: int) -> jax.Array:
    """The context stream shared by every member with these m and context (TrainConfig.data = "task").

    Contexts are index sets, independent of a member's graph and embeddings, so members of
    different seeds, graphs and models can share them: a member's run equals its solo run, and
    under the engine's vmap a step samples contexts once and gathers every member's rows with
    the same indices (with per-member contexts the gathers' batched indices dominated a step).
    """
    return jax.random.key(experiment.stable_hash(f"attention-data:m={m},context={context}"))


def make_train(static: Mapping[str, Any], train_cfg: TrainConfig, success: AttentionSuccess):
    """Build train(root_key, hyper) for one bucket; hyper = {lr, m_edges, degree, dk, h} (scalars)."""
    c, m = static["context"], static["m"]
    # a head of a member with h = 1 holds all of D_K, so each padded head holds the bucket's max dk
    model = make_model(static["model"], static["h"], static["dk"])
    pos_weight = float(static["pos_weight"])

    # A bilinear score depends on its pair of items alone, so the loss over a batch's B·c² context
    # pairs is Σ_uv N_uv · loss(s_uv) over the m² item pairs, N_uv counting the contexts that hold
    # both u and v (N = XᵀX, X the batch's context indicator, shared by the population). Scoring all
    # m² pairs is a few dense products; scoring the contexts' pairs is gathers and tiny products.
    # Both score through the bilinear form x A xᵀ (model.py). On the 2-core CPU with one JAX device
    # per core (lab.cpu_devices) the dense form wins at m² = 2·B·c² (m = 64 at batch 32, context 8:
    # 78-96k vs 38-50k model-steps/s) and the gathered one at 8·B·c² (m = 128: 39-44k vs 32-35k;
    # A/B in one process, three rounds). With one device the dense form had won at m = 128 too
    # (31.9k vs 27.3k) and lost at m = 256 (8.2k vs 3.4k).
    by_counts = static["model"] == "bilinear" and m * m <= COUNT_FORM_MAX_RATIO * train_cfg.batch * c * c

    def train(root: jax.Array, hyper: Mapping[str, jax.Array]):
        keys = member_keys(root)
        emb_MxD, adj_MxM = task_instance(root, static, hyper["m_edges"], hyper["degree"])
        dk, h = hyper["dk"], hyper["h"]
        weight_MxM = (1.0 + (pos_weight - 1.0) * adj_MxM) / (train_cfg.batch * c * c)

        def loss_fn(params, ctx_BxC):
            if by_counts:
                x_BxM = context_indicator(ctx_BxC, m)
                n_MxM = x_BxM.T @ x_BxM
                return weighted_bce(bilinear_pair_logits(params, emb_MxD, dk, h), adj_MxM, n_MxM * weight_MxM)
            logits = model.apply({"params": params}, emb_MxD, ctx_BxC, dk, h)
            return pair_loss(logits, shared_targets(adj_MxM, ctx_BxC), pos_weight)

        eval_ctx = sample_contexts(keys["eval"], m, c, success.samples)
        eval_y = context_targets(adj_MxM, eval_ctx)

        def evaluate(params):
            logits = model.apply({"params": params}, emb_MxD, eval_ctx, dk, h)
            metrics = edge_metrics(logits > 0, eval_y)
            return {**metrics, "success": metrics["recovery"] >= 1.0 - success.epsilon - 1e-9}

        params = model.init(keys["init"], emb_MxD, eval_ctx[:1], dk, h)["params"]
        return train_loop(
            params, loss_fn=loss_fn, evaluate=evaluate,
            data_key=data_key(m, c) if train_cfg.data == "task" else keys["data"],
            learning_rate=hyper["lr"], cfg=train_cfg, sample=lambda key: sample_contexts(key, m, c, train_cfg.batch),
        )

    return train
