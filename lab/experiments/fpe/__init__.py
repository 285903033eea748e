"""Experiment kind ``fpe``: Fixed Parameter Expansion on Boolean formulas (Kong, Subramanian et al.,
"Expand Neurons, Not Parameters", arXiv 2510.04500).

A member trains a one-hidden-layer ReLU network with n neurons on a Boolean DNF or CNF of K clauses
of k literals (lab.experiments.fpe.task: balanced classes, dense or sparse inputs). Half-way (the
member's ``split_at``) the network is either left dense or split by FPE: every neuron becomes alpha
children whose input weights partition the parent's (random, clause-aligned or Gram-cluster
masks), output weights copied, the smallest weights pruned so that the non-zero parameter count is
the dense network's (lab.experiments.fpe.split); training then goes on with the masks fixed.
Dense and split arms of a seed share their warm-up and run in one vmapped program.

Success ([success], lab.experiments.fpe.success): held-out accuracy >= level (default 0.95). The
resource is the clause count K; an arm's clause capacity K* is the most clauses at which its
networks still succeed. FPE has no capacity theorem: the laws (lab.experiments.fpe.laws) describe
K* against n with a gain per arm; they test the paper's empirical claims (splits beat the dense
network, more so under more clauses per neuron), not a bound.

Where the paper's setting is unknown here (lab.experiments.fpe.paper), this kind chooses and says
so (docs/fpe.md): balanced classes (a constant predictor scores 1/2), variable-disjoint clauses,
fresh samples every step (or, with ``train_size``, a fixed training set), Adam, the split at half the steps, and the clause split dealing each
neuron's clauses to its children at random.

Modules: member (one network's settings), success, task (formulas and inputs), split (the FPE
operation), train (``make_train``), paper (the reported numbers), laws, verdicts, figures. This one
is plain Python; the jax and matplotlib modules are imported when needed.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from lab import experiment
from lab.experiments.fpe import laws
from lab.experiments.fpe.member import FPEMember
from lab.experiments.fpe.success import FPESuccess
from lab.train_config import TrainConfig

METRICS = ("acc", "tpr", "tnr", "nonzero", "loss")


def inputs(shape: Mapping[str, Any]) -> int:
    """Input lanes of a bucket (or a member): K·k + extra."""
    return shape["clauses"] * shape["k"] + shape["extra"]


def cost(shape: Mapping[str, Any]) -> float:
    """FLOPs of one step relative to others: the first layer over alpha·n lanes dominates."""
    lanes = shape["alpha"] * shape["n"]
    return float(lanes * (inputs(shape) + 2))


def step_flops(shape: Mapping[str, Any], train_cfg: TrainConfig) -> float:
    """FLOPs of one member's training step: 6 B x the multiply-adds of ``cost``."""
    return 6.0 * train_cfg.batch * cost(shape)


def bytes_per_member(shape: Mapping[str, Any], train_cfg: TrainConfig, success: FPESuccess) -> int:
    """Rough peak memory of one member in a vmapped program (params, masks, Adam, batch, eval set)."""
    m, lanes = inputs(shape), shape["alpha"] * shape["n"]
    params = m * lanes + 3 * lanes + 1
    acts = train_cfg.batch * (2 * m + 4 * lanes)
    evals = success.samples * (2 * m + lanes + 2)
    pool = shape.get("train_size", 0) * (m + 1)  # a fixed training set (member.train_size)
    return 4 * (6 * params + acts + evals + pool + 2 * train_cfg.evals * len(METRICS))


def row_metrics(member: FPEMember, metrics: dict) -> dict:
    """Every metric at every evaluation point, the arm's name and the load K/n."""
    out = {k: np.round(np.asarray(v, dtype=np.float64), 6).tolist() if k != "success" else np.asarray(v).tolist()
           for k, v in metrics.items()}
    return {**out, "arm": member.arm, "load": round(member.load, 6)}


def success_text(success: FPESuccess) -> str:
    """The criterion in words, for reports."""
    return (f"a network succeeds when its accuracy on {success.samples} held-out inputs is at least {success.level:g} "
            "(the classes are balanced: a constant predictor scores about 1/2); an arm's clause capacity K* is the most "
            "clauses at which its networks still succeed. Arms (split): 0 dense, 1 random, 2 clause, 3 gram")


CAPTIONS = {
    "paper": "The reported setting (8 clauses, 8 neurons, α = 2; arXiv 2510.04500): final held-out accuracy per arm, "
             "mean over seeds with a 95% Student-t interval (dots: seeds), beside the paper's numbers (crosses, table); "
             "right: accuracy over training, the dashed line is the split",
    "accuracy": "Final accuracy per arm (left) and the gain of each split over the dense network of the same seed "
                "(right) against clauses per neuron K/n, means with 95% t intervals over seeds; crosses: the paper",
    "capacity": "Clause capacity K* per arm (the most clauses at the [success] accuracy) against n, with intervals "
                "(open markers with arrows: censored bounds) and the law c·n·g_split where it converged",
}

# capacity = the most clauses an arm still computes; a law ties the arms of one task setting and
# alpha together (covariates n and the arm), never different tasks
ANALYSIS = experiment.Analysis(
    resource="clauses", direction="decreasing", covariates=("n", "split"), laws=laws.LAWS,
    series=("k", "extra", "form", "negate", "active", "train_size", "n", "alpha", "split", "arm", "split_at"),
    fit_by=("k", "extra", "form", "negate", "active", "train_size", "alpha", "split_at", "lr"))
SWEEPS = {"quick": ("fpe-quick", "fpe-data"), "standard": ("fpe-standard", "fpe-data"), "paper": ("fpe-paper", "fpe-data")}

EXPERIMENT = experiment.define(__name__, globals(), name="fpe", member=FPEMember, success=FPESuccess, order=3,
                               description="Fixed Parameter Expansion: dense vs split one-hidden-layer networks on "
                                           "Boolean formulas (arXiv 2510.04500)")
