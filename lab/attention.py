"""Experiment kind ``attention``: capacity of single-layer attention for Relational Graph Recognition.

Tests the law of Adler (arXiv 2509.22840): recovering a graph of m' edges over items embedded in
R^d_model needs total key dimension D_K = h·d_k = Θ(m' log m' / d_model). One member trains a scorer
(lab.attention_model: ``bilinear`` or ``softmax``) on contexts drawn inside the loop
(lab.graph_task) with a pair-wise logistic loss; D_K is padded (key-dimension masks), m' and the
degree are traced (nested graphs) and heads are padded too, so a bucket trains
seeds × D_K × h × m' × lr in one program.

Success (``Criterion.epsilon``, default 0.05): on ``Criterion.samples`` held-out contexts,
recovery = min(exact-set accuracy over queries with neighbours, accuracy over queries without)
>= 1 - epsilon. Edge precision and recall are reported at every evaluation point.

The law's regime, enforced by ``AttentionMember`` (a member outside it is refused, not trained):
- sparse graphs, m' <= m²/4 (``MAX_DENSITY``). A constant predictor then fails the success test:
  "never edge" is wrong on every query with a neighbour in its context (acc_edges = 0), and
  "always edge" is right on a query only if its whole context lies among its out-neighbours. Such
  (query, context) pairs make up at most m'/m² <= 1/4 of all of them (the query's first other
  context item alone is a neighbour with probability m'/m² on average), so either a query without
  neighbours is drawn (acc_none = 0) or acc_edges <= about 1/4. The complete graph (m' = m², where
  "always edge" recovers everything) and any graph denser than a quarter of all pairs are refused.
- a key dimension the scorer can use: D_K <= d_model for the bilinear scorer (its score matrix
  x_iᵀ (Σ_t W_Q^t W_K^tᵀ) x_j has rank <= min(D_K, d_model): key dimensions beyond d_model add
  nothing), and d_k <= d_model per head for softmax attention (each head's scores have rank <= d_k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from lab import experiment
from lab.attention_model import MODELS, make_model
from lab.criterion import Criterion
from lab.graph_task import GRAPHS, adjacency, context_targets, edge_metrics, graph_ranks, item_embeddings, sample_contexts
from lab.losses import weighted_bce
from lab.training import TrainConfig, train_loop

METRICS = ("recovery", "acc_edges", "acc_none", "query_acc", "precision", "recall")
MAX_DENSITY = 0.25  # most edges m'/m² a graph may have (module docstring: constant predictors fail)


@dataclass(frozen=True)
class AttentionMember:
    """One scorer to train: items m in R^d_model, a graph of m_edges edges, h heads of total key dim dk."""

    m: int = 32  # items
    d_model: int = 32  # embedding dimension (m = d_model: uncompressed, m > d_model: compressed)
    graph: str = "perm"  # perm | degree | edges
    m_edges: int = 0  # edges m' (edges: required; perm: m; degree: m * degree; 0 = the family's count)
    degree: int = 0  # out-degree of every item (graph = "degree" only; else 0)
    h: int = 1  # heads
    dk: int = 8  # total key dimension D_K = h * d_k
    context: int = 16  # items per context
    model: str = "bilinear"  # bilinear | softmax
    lr: float = 1e-2
    pos_weight: float = 1.0  # loss weight of an edge pair relative to a non-edge pair
    seed: int = 0

    def __post_init__(self):
        for name in ("m", "d_model", "h", "dk", "context"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.m < self.d_model:
            raise ValueError(f"need m >= d_model (m = d_model is the uncompressed case), got m={self.m}, d_model={self.d_model}")
        if self.dk % self.h:
            raise ValueError(f"dk (total key dimension D_K = h * d_k) must be divisible by h; got dk={self.dk}, h={self.h}")
        if self.graph not in GRAPHS:
            raise ValueError(f"graph must be one of {GRAPHS}, got {self.graph!r}")
        if self.m_edges == 0 and self.graph != "edges":
            # the count a permutation or degree graph has: sweeps give degree (and m relative to
            # d_model) and the member, its id and its row carry the edge count the laws take
            object.__setattr__(self, "m_edges", self.m * max(self.degree, 1))
        if self.graph == "perm" and (self.m_edges != self.m or self.degree != 0):
            raise ValueError(f"a permutation graph has m_edges = m = {self.m} and degree = 0; got m_edges={self.m_edges}, degree={self.degree}")
        if self.graph == "degree":
            if not 1 <= self.degree <= self.m:
                raise ValueError(f"degree must be in [1, m={self.m}] for graph 'degree', got {self.degree}")
            if self.m_edges != self.m * self.degree:
                raise ValueError(f"graph 'degree' has m_edges = m * degree = {self.m * self.degree}, got {self.m_edges}")
        if self.graph == "edges":
            if not 1 <= self.m_edges <= self.m * self.m:
                raise ValueError(f"m_edges must be in [1, m^2={self.m * self.m}] (ordered pairs, loops allowed), got {self.m_edges}")
            if self.degree != 0:
                raise ValueError(f"degree is only used by graph 'degree'; set it to 0, got {self.degree}")
        if self.m_edges > MAX_DENSITY * self.m * self.m:
            raise ValueError(
                f"m_edges = {self.m_edges} is too dense for m = {self.m}: a graph of more than m²/4 = "
                f"{int(MAX_DENSITY * self.m * self.m)} edges lets a constant predictor pass (lab.attention docstring)"
            )
        if not 2 <= self.context <= self.m:
            raise ValueError(f"context must be in [2, m={self.m}], got {self.context}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.model == "bilinear" and self.dk > self.d_model:
            raise ValueError(f"dk = {self.dk} exceeds d_model = {self.d_model}: a bilinear form on R^d_model has rank <= d_model")
        if self.model == "softmax" and self.d_k > self.d_model:
            raise ValueError(f"dk = {self.dk} gives d_k = dk / h = {self.d_k} > d_model = {self.d_model}: a head's scores have rank <= d_model")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not self.pos_weight > 0:
            raise ValueError(f"pos_weight must be positive, got {self.pos_weight}")

    @property
    def d_k(self) -> int:
        return self.dk // self.h

    @property
    def compressed(self) -> bool:
        return self.m > self.d_model

    @property
    def compression(self) -> float:
        """m / d_model: 1 uncompressed (orthonormal embeddings), > 1 items share directions."""
        return self.m / self.d_model


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


def data_key(m: int, context: int) -> jax.Array:
    """The context stream shared by every member with these m and context (TrainConfig.data = "task").

    Contexts are index sets, independent of a member's graph and embeddings, so members of
    different seeds, graphs and models can share them: a member's run equals its solo run, and
    under the engine's vmap a step samples contexts once and gathers every member's rows with
    the same indices (with per-member contexts the gathers' batched indices dominated a step).
    """
    return jax.random.key(experiment.stable_hash(f"attention-data:m={m},context={context}"))


def make_train(static: Mapping[str, Any], train_cfg: TrainConfig, criterion: Criterion):
    """Build train(root_key, hyper) for one bucket; hyper = {lr, m_edges, degree, dk, h} (scalars)."""
    c, m = static["context"], static["m"]
    # a head of a member with h = 1 holds all of D_K, so each padded head holds the bucket's max dk
    model = make_model(static["model"], static["h"], static["dk"])
    pos_weight = float(static["pos_weight"])

    def train(root: jax.Array, hyper: Mapping[str, jax.Array]):
        keys = member_keys(root)
        emb_MxD, adj_MxM = task_instance(root, static, hyper["m_edges"], hyper["degree"])
        dk, h = hyper["dk"], hyper["h"]

        def loss_fn(params, batch_key):
            ctx_BxC = sample_contexts(batch_key, m, c, train_cfg.batch)
            logits = model.apply({"params": params}, emb_MxD, ctx_BxC, dk, h)
            return pair_loss(logits, context_targets(adj_MxM, ctx_BxC), pos_weight)

        eval_ctx = sample_contexts(keys["eval"], m, c, criterion.samples)
        eval_y = context_targets(adj_MxM, eval_ctx)

        def evaluate(params):
            logits = model.apply({"params": params}, emb_MxD, eval_ctx, dk, h)
            metrics = edge_metrics(logits > 0, eval_y)
            return {**metrics, "success": metrics["recovery"] >= 1.0 - criterion.epsilon - 1e-9}

        params = model.init(keys["init"], emb_MxD, eval_ctx[:1], dk, h)["params"]
        return train_loop(
            params, loss_fn=loss_fn, evaluate=evaluate,
            data_key=data_key(m, c) if train_cfg.data == "task" else keys["data"],
            learning_rate=hyper["lr"], cfg=train_cfg,
        )

    return train


def cost(shape: Mapping[str, Any]) -> float:
    """FLOPs of one step relative to others: projections of all items plus pair scores.

    A padded program computes h·dk key columns (every head holds the bucket's max dk), so that is
    the width counted; for a member it overstates the columns it uses when h > 1.
    """
    cols = shape["h"] * shape["dk"]
    if shape["model"] == "bilinear":
        return float(shape["m"] * cols * (2 * shape["d_model"] + shape["m"]))
    return float(shape["m"] * cols * 4 * shape["d_model"] + 64 * shape["context"] ** 2 * (2 * cols + shape["d_model"]))


def bytes_per_member(shape: Mapping[str, Any], train_cfg: TrainConfig, criterion: Criterion) -> int:
    """Rough peak memory of one member in a vmapped program (params, Adam, activations, eval)."""
    m, d, c, h = shape["m"], shape["d_model"], shape["context"], shape["h"]
    cols = h * shape["dk"]
    softmax = shape["model"] == "softmax"
    params = (4 if softmax else 2) * d * cols + 2 * h + 2
    if softmax:
        acts = 6 * m * cols + train_cfg.batch * c * (c * (h + 1) * 3 + 6 * cols + 2 * d + 4 * c)
    else:
        acts = 2 * m * m + 4 * m * cols + 4 * train_cfg.batch * c * c
    evals = criterion.samples * c * (c * (3 + (h + 1) * softmax) + 3 * cols * softmax)
    return 4 * (5 * params + acts + evals + m * (m + d) + 2 * train_cfg.evals * len(METRICS))


def row_metrics(member: AttentionMember, metrics: dict) -> dict:
    """Per-member metrics for the results store: every scalar metric at every evaluation point, and
    the compression m / d_model (laws are fitted per compression)."""
    out = {k: np.round(np.asarray(v, dtype=np.float64), 6).tolist() if k != "success" else np.asarray(v).tolist() for k, v in metrics.items()}
    return {**out, "compression": round(member.compression, 6)}


def mlogm_over_d(m_edges: float, d_model: float) -> float:
    """The law's scale m' log m' / d_model (natural log)."""
    return m_edges * math.log(m_edges) / d_model


def success_text(success: Mapping[str, Any]) -> str:
    """The criterion in words, for reports."""
    eps = float(success.get("epsilon", Criterion().epsilon))
    samples = int(success.get("samples", Criterion().samples))
    return (f"a member recognises its graph when, on {samples} held-out contexts, recovery = min(exact neighbour sets "
            f"over queries that have neighbours in the context, empty sets over queries that have none) is at least "
            f"{1 - eps:g} (ε = {eps:g}); neither the all-empty nor an always-edge predictor passes")


EXPERIMENT = experiment.register(
    experiment.Experiment(
        name="attention",
        member=AttentionMember,
        traced=("lr", "m_edges", "degree"),
        padded=("dk", "h"),
        identity=("m", "d_model", "graph"),
        make_train=make_train,
        cost=cost,
        bytes_per_member=bytes_per_member,
        row_metrics=row_metrics,
        analysis=experiment.Analysis(
            resource="dk",
            direction="increasing",
            series=("m", "d_model", "compression", "graph", "m_edges", "degree", "h", "context", "model", "pos_weight"),
            laws=("mlogm_over_d", "info_over_d", "m_over_d", "mlogm_over_d_icpt", "power2"),
            covariates=("m_edges", "d_model", "m"),
            # heads change a softmax scorer, compression changes the task: one law per group
            fit_by=("model", "h", "compression"),
        ),
        description="single-layer attention recognising relational graphs (arXiv 2509.22840)",
        success_text=success_text,
    )
)
