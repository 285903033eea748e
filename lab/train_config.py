"""The training settings shared by all members of a sweep (the spec's [train] section).

Plain Python: the spec and the analysis read it without importing jax (lab.training runs it).
"""

from __future__ import annotations

from dataclasses import dataclass

OPTIMIZERS = ("adam", "adamw", "sgd")
DATA = ("task", "member")


@dataclass(frozen=True)
class TrainConfig:
    """Settings shared by all members of a sweep."""

    steps: int = 2000
    batch: int = 256
    evals: int = 4  # evaluation points; the last one is the end of training
    optimizer: str = "adam"
    # Where batches come from: "task" = one stream per task, shared by every member of that task
    # (seeds then differ in initialisation and task instance, not in data; the population shares
    # one batch per step); "member" = each member draws its own stream from its seed. Either way a
    # member's result does not depend on the rest of its population.
    data: str = "task"
    # The reported training loss of a segment is the mean over every loss_every-th step and the
    # segment's last step; the other steps compute gradients only. The loss value is a metric (the
    # gradient never needs it), and on small networks its reduction costs as much as the matrix
    # products of a step. 1 = every step.
    loss_every: int = 16

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.data not in DATA:
            raise ValueError(f"data must be one of {DATA}, got {self.data!r}")
        for name in ("steps", "batch", "evals", "loss_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.steps % self.evals:
            raise ValueError(f"steps ({self.steps}) must be a multiple of evals ({self.evals})")

    @property
    def steps_per_eval(self) -> int:
        return self.steps // self.evals
