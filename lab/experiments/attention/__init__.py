"""Experiment kind ``attention``: capacity of single-layer attention for Relational Graph Recognition.

Tests the law of Adler (arXiv 2509.22840): recovering a graph of m' edges over items embedded in
R^d_model needs total key dimension D_K = h·d_k = Θ(m' log m' / d_model). One member trains a scorer
(``bilinear`` or ``softmax``) with a pair-wise logistic loss (lab.experiments.attention.train).

Success (``AttentionSuccess.epsilon``, default 0.05): on ``AttentionSuccess.samples`` held-out contexts,
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

The kind, module by module (this one is plain Python; the jax ones are imported when needed):
member (settings of one scorer, its regime), success ([success] settings), task (graphs, embeddings,
contexts), model (the scorers), train (``make_train``), laws, verdicts, figures, construction
(explicit constructions), overlays (what the figures draw beside the trained scorers).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from lab import experiment
from lab.experiments.attention import laws
from lab.experiments.attention.member import AttentionMember
from lab.experiments.attention.success import AttentionSuccess
from lab.train_config import TrainConfig

METRICS = ("recovery", "acc_edges", "acc_none", "query_acc", "precision", "recall")


def cost(shape: Mapping[str, Any]) -> float:
    """FLOPs of one step relative to others: projections of all items plus pair scores.

    A padded program computes h·dk key columns (every head holds the bucket's max dk), so that is
    the width counted; for a member it overstates the columns it uses when h > 1.
    """
    cols = shape["h"] * shape["dk"]
    if shape["model"] == "bilinear":
        return float(shape["m"] * cols * (2 * shape["d_model"] + shape["m"]))
    return float(shape["m"] * cols * 4 * shape["d_model"] + 64 * shape["context"] ** 2 * (2 * cols + shape["d_model"]))


def step_flops(shape: Mapping[str, Any], train_cfg: TrainConfig) -> float:
    """FLOPs of one member's training step: 6 x the multiply-adds of the cheaper exact form, the
    projections and scores of all m² item pairs or of the contexts' items and their B c² pairs
    (lab.experiments.attention.train); a softmax layer's value and output products added."""
    m, d, k, c, b = shape["m"], shape["d_model"], shape["h"] * shape["dk"], shape["context"], train_cfg.batch
    if shape["model"] == "bilinear":
        return 6.0 * min(2 * m * d * k + m * m * k, 2 * b * c * d * k + b * c * c * k)
    return 6.0 * b * c * (4 * d * k + 2 * c * k + c * d)


def bytes_per_member(shape: Mapping[str, Any], train_cfg: TrainConfig, success: AttentionSuccess) -> int:
    """Rough peak memory of one member in a vmapped program (params, Adam, activations, eval)."""
    m, d, c, h = shape["m"], shape["d_model"], shape["context"], shape["h"]
    cols = h * shape["dk"]
    softmax = shape["model"] == "softmax"
    params = (4 if softmax else 2) * d * cols + 2 * h + 2
    if softmax:
        acts = 6 * m * cols + train_cfg.batch * c * (c * (h + 1) * 3 + 6 * cols + 2 * d + 4 * c)
    else:
        acts = 2 * m * m + 4 * m * cols + 4 * train_cfg.batch * c * c
    evals = success.samples * c * (c * (3 + (h + 1) * softmax) + 3 * cols * softmax)
    return 4 * (5 * params + acts + evals + m * (m + d) + 2 * train_cfg.evals * len(METRICS))


def row_metrics(member: AttentionMember, metrics: dict) -> dict:
    """Per-member metrics for the results store: every scalar metric at every evaluation point, and
    the compression m / d_model (laws are fitted per compression)."""
    out = {k: np.round(np.asarray(v, dtype=np.float64), 6).tolist() if k != "success" else np.asarray(v).tolist() for k, v in metrics.items()}
    return {**out, "compression": round(member.compression, 6)}


def mlogm_over_d(m_edges: float, d_model: float) -> float:
    """The law's scale m' log m' / d_model (natural log)."""
    return m_edges * math.log(m_edges) / d_model


def success_text(success: AttentionSuccess) -> str:
    """The criterion in words, for reports."""
    eps, samples = success.epsilon, success.samples
    return (f"a member recognises its graph when, on {samples} held-out contexts, recovery = min(exact neighbour sets "
            f"over queries that have neighbours in the context, empty sets over queries that have none) is at least "
            f"{1 - eps:g} (ε = {eps:g}); neither the all-empty nor an always-edge predictor passes")


CAPTIONS = {
    "threshold": "Final recovery against D_K per m' (one panel per group); vertical lines: the fitted thresholds D_K*",
    "law": "D_K*·d_model against m' log m' per fitted group, with the fitted laws, the constructions and a table "
           "of c and ΔQAIC per law",
    "residuals": "Residuals of each fitted law in log D_K*, per series",
    "collapse": "Recovery of every member against D_K·d_model/(m' log m')",
    "heads": "At fixed D_K, recovery against the number of heads, compressed and uncompressed",
}

# threshold = the smallest D_K that recovers the graph; heads change a softmax scorer and
# compression changes the task, so a law is fitted per (model, h, compression) group
ANALYSIS = experiment.Analysis(
    resource="dk", direction="increasing", covariates=("m_edges", "d_model", "m"), laws=laws.LAWS,
    series=("m", "d_model", "compression", "graph", "m_edges", "degree", "h", "context", "model", "pos_weight"),
    fit_by=("model", "h", "compression"))
SWEEPS = {"quick": ("attention-quick",), "standard": ("attention-standard",), "paper": ("attention-paper",)}

EXPERIMENT = experiment.define(__name__, globals(), name="attention", member=AttentionMember, success=AttentionSuccess, order=1,
                               description="single-layer attention recognising relational graphs (arXiv 2509.22840)")
