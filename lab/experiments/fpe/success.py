"""The FPE lab's [success] settings (plain Python)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FPESuccess:
    """A network succeeds when its accuracy on ``samples`` held-out inputs is at least ``level``.

    Classes are balanced (lab.experiments.fpe.task), so a constant predictor scores 1/2 in
    expectation and the level must lie well above it.
    """

    level: float = 0.95  # held-out accuracy a network must reach
    samples: int = 4096  # held-out inputs, drawn from the task's distribution

    def __post_init__(self):
        if not 0.6 <= self.level < 1:
            raise ValueError(f"level must be in [0.6, 1) (a constant predictor scores about 0.5), got {self.level}")
        if self.samples < 64:
            raise ValueError(f"samples must be at least 64, got {self.samples}")
