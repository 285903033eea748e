"""Experiment kind ``superposition``: one-hidden-layer ReLU networks computing sparse Boolean features.

Tests the capacity law of Adler & Shavit (arXiv 2409.15318): n neurons compute at most
O(n²/log n) features; pairwise AND of m' outputs needs Ω(√(m' log m')) neurons. One member trains a
MaskedMLP of width n on m' outputs of a BooleanTask; widths and m' are padded inside a bucket.

The kind, module by module (this one is plain Python; the jax ones are imported when needed):
member (settings of one network), criterion ([success] settings), task (the Boolean task), mlp
(the network), scoring (exact per-feature rates), train (the loss and ``make_train``), laws,
verdicts, figures, construction / theory / search (explicit constructions and their widths),
baseline (one neuron per feature), overlays (what the figures draw beside the trained networks).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Mapping

import numpy as np

from lab import experiment
from lab.experiments.superposition import laws
from lab.experiments.superposition.criterion import Criterion, scored_exactly
from lab.experiments.superposition.member import SuperpositionMember
from lab.train_config import TrainConfig


def cost(shape: Mapping[str, Any]) -> float:
    """FLOPs of one training step relative to others (dense forward+backward)."""
    d_in = shape["d"] or shape["m"]
    return float(shape["n"] * (d_in + shape["m_out"]))


def step_flops(shape: Mapping[str, Any], train_cfg: TrainConfig) -> float:
    """Dense-equivalent FLOPs of one member's training step: 6 B n (D + m'), or with outputs in
    superposition 6 B (n D + n d_out + d_out m') (the fixed readout counted as a layer)."""
    o = shape.get("d_out")
    d_in, n, k = shape["d"] or shape["m"], shape["n"], shape["m_out"]
    return 6.0 * train_cfg.batch * (n * (d_in + o) + o * k if o else cost(shape))


def bytes_per_member(shape: Mapping[str, Any], train_cfg: TrainConfig, criterion: Criterion) -> int:
    """Rough peak memory of one member in a vmapped program (params, Adam, activations, eval)."""
    d_in, n, k = shape["d"] or shape["m"], shape["n"], shape["m_out"]
    o = shape.get("d_out") or 0  # outputs in superposition: weights n x d_out, readout d_out x m'
    params = d_in * n + n * k + n + k + o * (n + k + 1)
    acts = train_cfg.batch * (shape["m"] + 3 * n + 3 * k + 3 * o)
    if scored_exactly(SimpleNamespace(m=shape["m"], s=shape["s"]), criterion):
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


def success_text(success: Criterion) -> str:
    """The criterion in words, for reports (lab.experiments.superposition.scoring)."""
    c = success
    share = "all" if c.fraction >= 1 else f"at least {c.fraction:.0%}"
    return (f"a feature is computed when its false-negative rate and its false-positive rate on each negative class "
            f"(only a on, only b on, neither) are at most ε = {c.epsilon:g} and its precision is at least {1 - c.epsilon:g}, "
            f"scored exactly over every s-sparse input when there are at most {c.max_inputs} of them (else on "
            f"{c.samples} sampled inputs per class); a network succeeds when {share} of its m' features are computed. "
            "Capacity views: features computed (the most over m'), m' with 90% computed, m' with all computed")


CAPTIONS = {
    "capacity": "Left: capacity per width under the headline view, with 95% intervals over seeds, the laws fitted "
                "to it (drawn over the measured widths) and the naive one-neuron-per-feature baseline in the same "
                "superposition. Right: every capacity view of the same networks, with its fitted exponent",
    "success": "Per width, the fraction (left) and the number (right) of the m' features computed against m' "
               "(mean over seeds; bars: the seeds' range)",
    "construction": "Explicit construction: neurons (left) and non-zero parameters (right) of the smallest working "
                    "construction against m', with the theory's sizes",
}

# capacity = the largest m' a width-n network computes, under three views of the same networks;
# a law is fitted per task setting, across widths
ANALYSIS = experiment.Analysis(
    resource="m_out", direction="decreasing", covariates=("n",), laws=laws.LAWS, views=("frac90", "all", "computed"),
    series=("m", "op", "s", "p", "d", "d_out", "n", "objective", "balance", "oversample"),
    fit_by=("m", "op", "s", "p", "objective", "balance", "oversample", "lr"))
SWEEPS = {"quick": ("superposition-quick",), "standard": ("superposition-standard", "superposition-perm-standard"),
          "paper": ("superposition-paper",)}

EXPERIMENT = experiment.define(__name__, globals(), name="superposition", member=SuperpositionMember, success=Criterion, order=0,
                               description="one-hidden-layer ReLU MLPs computing sparse Boolean features (arXiv 2409.15318)")
