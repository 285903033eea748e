"""The attention lab's [success] settings (plain Python)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttentionSuccess:
    """A member recognises its graph when recovery >= 1 - epsilon on ``samples`` held-out contexts."""

    epsilon: float = 0.05  # recovery = min(exact-set accuracy with neighbours, accuracy without) >= 1 - epsilon
    samples: int = 1200  # held-out contexts

    def __post_init__(self):
        if not 0 < self.epsilon < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {self.epsilon}")
        if self.samples < 1:
            raise ValueError(f"samples must be positive, got {self.samples}")
