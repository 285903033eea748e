"""The superposition lab's [success] settings: when a feature counts as computed, and a network as
succeeding (the scoring itself is lab.experiments.superposition.scoring). Plain Python: the spec and the
analysis read it without jax."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Criterion:
    """When a trained network counts as computing its task."""

    epsilon: float = 0.05  # bound on the false-negative rate, each false-positive rate and 1 - precision
    fraction: float = 1.0  # fraction of output features that must be computed for success
    samples: int = 1200  # held-out inputs per feature and class when inputs are sampled, not enumerated
    max_inputs: int = 60_000  # enumerate all inputs when the task has at most this many (exact scoring)

    def __post_init__(self):
        if not 0 < self.epsilon < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {self.epsilon}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if self.samples < 1:
            raise ValueError(f"samples must be positive, got {self.samples}")
        if self.max_inputs < 0:
            raise ValueError(f"max_inputs must be >= 0, got {self.max_inputs}")

    def samples_needed(self, z: float = 1.96) -> int:
        """Samples per class for a binomial 95% interval at rate ε to be within ±ε/4."""
        return math.ceil((4 * z / self.epsilon) ** 2 * self.epsilon * (1 - self.epsilon))


def input_count(task) -> int | None:
    """How many distinct inputs the task has (C(m, s)); None for Bernoulli inputs."""
    return math.comb(task.m, task.s) if task.s is not None else None


def scored_exactly(task, criterion: Criterion) -> bool:
    """Whether ``feature_scores`` enumerates every input of the task (no sampling)."""
    count = input_count(task)
    return count is not None and count <= criterion.max_inputs
