"""Experiment kind ``memorization``: how many random labels one multi-head attention layer memorises.

External validation against Mahdavi, Liao & Thrampoulidis, "Memorization capacity of multi-head
attention in transformers" (ICLR 2024, arXiv 2306.02010; code github.com/smahdavi4/attention-memorization).
Their theorem: a layer with h heads, context n < d and head dimension d_h memorises Ω(h·min(n, d_h))
examples under linear-independence assumptions on the inputs; their synthetic experiments (Fig. 2,
d = 64, shared context) report memorisation growing linearly in h and monotonically in n. They train
every (h, n, N) point as its own process (about 10 V100-days for 6 seeds); here one vectorised
sweep trains the grid, heads, context tokens and examples padded with masks.

Their setting, taken from their code (RandomDataset, BaselineAttention, Trainer):
- an example: a query token and n context tokens in R^64, coordinates uniform in [0, 1), and a label
  uniform among 100 classes; ``shared`` contexts (one for the whole data set, their Fig. 2 and the
  "_shared" runs) or ``random`` ones (one per example);
- the layer: linear embedding to d = 64 plus sinusoidal positions, h softmax heads with
  d_h = 64 and a one-dimensional value each, no token attending to the query; the query's output
  goes through W_O and a linear decoder to the class logits; cross-entropy;
- Adam, batch 256, peak lr 1e-3, linear warm-up over 5% of the steps then cosine decay, at least
  500 epochs and 50,000 steps;
- memorised examples: training examples classified correctly (they log training accuracy and
  stop once it is 1).

Differences, by design (docs/memorization.md): batches are drawn with replacement, not epoch by
epoch; the number of steps is a sweep setting (CPU sweeps train far fewer than 50,000, so their
capacities are what that budget reaches); the products are associated differently (exact,
cheaper; lab.experiments.memorization.model).

Capacity: N*, the largest data set memorised, a logistic threshold in N (the laws are fitted to it,
per contexts type). A member succeeds when it classifies at least (1 - epsilon)·N of its N examples
correctly (``MemorizationSuccess``) and more than the majority count, so no constant predictor ever
passes. Rows also keep, at every evaluation point, the examples memorised beyond the majority count
(their count of memorised examples, less what a constant predictor gets for free); its maximum over
N is not a capacity (it grows with the largest N swept while a layer memorises part of a larger
set), so the figures show it against N rather than fitting it.

The kind, module by module (this one is plain Python; the jax ones are imported when needed):
member, success, task (examples and the metric), model (the layer), train (``make_train``), laws,
verdicts, figures.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from lab import experiment
from lab.experiments.memorization import laws
from lab.experiments.memorization.member import MemorizationMember
from lab.experiments.memorization.success import MemorizationSuccess
from lab.experiments.memorization.verdicts import verdicts
from lab.train_config import TrainConfig

METRICS = ("accuracy", "memorised", "majority", "excess", "loss")


def cost(shape: Mapping[str, Any]) -> float:
    """FLOPs of one training step relative to others: the multiply-adds of a step at batch 256
    (evaluation is a few passes over N examples per run and is left out, so padding N costs
    nothing here)."""
    return multiply_adds(shape, 256)


def step_flops(shape: Mapping[str, Any], train_cfg: TrainConfig) -> float:
    """FLOPs of one member's training step: 6 x its multiply-adds at the run's batch."""
    return 6.0 * multiply_adds(shape, train_cfg.batch)


def multiply_adds(shape: Mapping[str, Any], batch: int) -> float:
    """Multiply-adds of one forward pass over a batch of ``batch`` examples."""
    h, n, d, dh, d_in, c = (shape[k] for k in ("h", "context", "d_model", "dh", "d_in", "classes"))
    if shape["contexts"] == "shared":  # keys and W_E·G once per step, then d_in·h·n per query
        per_example = d_in * h * n + h * c + c
        per_step = n * d_in * d + 2 * h * n * d * dh + h * d_in * d * n
    else:
        per_example = (n + 1) * d_in * d + h * (2 * d * dh + 2 * n * d + c) + c
        per_step = 0
    return float(batch * per_example + per_step)


def bytes_per_member(shape: Mapping[str, Any], train_cfg: TrainConfig, success: MemorizationSuccess) -> int:
    """Rough peak memory of one member in a vmapped program (params, Adam, data, activations, eval)."""
    h, n, d, dh, d_in, c, big_n = (shape[k] for k in ("h", "context", "d_model", "dh", "d_in", "classes", "examples"))
    params = h * (2 * d * dh + 2 * d) + (d_in + 1) * d + (d + 1) * c
    per_example = 4 * h * n + d + 3 * c + d_in
    if shape["contexts"] == "random":
        per_example += 3 * n * (d_in + d) + 2 * h * d
    chunk = min(big_n, 1024)
    return 4 * (5 * params + train_cfg.batch * per_example + chunk * per_example + big_n * (d_in + 2)
                + 2 * train_cfg.evals * len(METRICS))


def row_metrics(member: MemorizationMember, metrics: dict) -> dict:
    """Every scalar metric at every evaluation point, and the layer's parameter count."""
    out = {k: np.round(np.asarray(v, dtype=np.float64), 6).tolist() if k != "success" else np.asarray(v).tolist()
           for k, v in metrics.items()}
    return {**out, "params": member.params}


def success_text(success: MemorizationSuccess) -> str:
    """The criterion in words, for reports."""
    share = "all" if success.epsilon == 0 else f"at least {1 - success.epsilon:g} of"
    return (f"a layer memorises its N training examples when it classifies {share} them correctly and more of them "
            "than the majority label covers (so no constant predictor passes); capacity N* is the largest N memorised")


CAPTIONS = {
    "capacity": "N*, the largest data set memorised, against heads h (left, one line per context size n) and against "
                "n (right, one line per h), with 95% intervals over seeds; dashed: c·h, the published linear trend "
                "fitted here; solid: the free power law c·h^α·n^β",
    "accuracy": "Top: training accuracy at the end of training against data set size N, per h (one panel per n); "
                "dotted: the best constant predictor's accuracy. Bottom: examples memorised beyond the majority "
                "count against N",
    "budget": "The trend against the training budget. Left: the fitted exponent α of h (95% interval) at each "
              "evaluation point, with all h (filled) and without h = 1 (open); dotted: the published linear "
              "trend, α = 1. Right: N* against h at each evaluation point",
}

EXPERIMENT = experiment.register(
    experiment.Experiment(
        name="memorization",
        member=MemorizationMember,
        success=MemorizationSuccess,
        traced=("lr",),
        padded=("examples", "h", "context"),
        identity=("d_in", "classes", "contexts"),
        make_train=experiment.lazy("lab.experiments.memorization.train:make_train"),
        cost=cost,
        bytes_per_member=bytes_per_member,
        step_flops=step_flops,
        row_metrics=row_metrics,
        analysis=experiment.Analysis(
            resource="examples",
            direction="decreasing",
            series=("h", "context", "contexts", "d_model", "dh", "d_in", "classes"),
            laws=laws.LAWS,
            covariates=("h", "context", "d_model", "dh", "d_in", "classes"),
            fit_by=("contexts",),
        ),
        description="one multi-head attention layer memorising random labels (arXiv 2306.02010)",
        success_text=success_text,
        verdicts=verdicts,
        figures=experiment.lazy("lab.experiments.memorization.figures:figures"),
        captions=CAPTIONS,
        sweeps={"quick": ("memorization-quick",), "standard": ("memorization-standard",),
                "paper": ("memorization-paper",)},
        order=2,
    )
)
