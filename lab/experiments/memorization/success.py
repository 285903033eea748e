"""The memorisation lab's [success] settings (plain Python)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MemorizationSuccess:
    """A member memorises its data set when it classifies at least (1 - epsilon)·N of its N training
    examples correctly, and more of them than any constant predictor does (the majority count)."""

    epsilon: float = 0.01

    def __post_init__(self):
        if not 0 <= self.epsilon < 1:
            raise ValueError(f"epsilon must be in [0, 1), got {self.epsilon}")
