"""One member of the superposition lab: the settings of one network to train (plain Python)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

LOSSES = ("bce", "mse")


@dataclass(frozen=True)
class SuperpositionMember:
    """One network to train: task (m, op, s | p, d), width n, outputs m_out, lr, seed."""

    m: int = 64  # input features
    op: str = "and"  # and | or | xor | perm
    s: int | None = 3  # exactly s inputs active (or give p)
    p: float | None = None  # each input active with probability p
    d: int | None = None  # inputs in superposition: dimension of the feature embedding
    d_out: int | None = None  # outputs in superposition: readout dimension (None: m' raw output units)
    n: int = 16  # hidden neurons
    m_out: int = 16  # output features m'
    lr: float = 1e-2
    objective: str = "bce"  # bce (logits) | mse (outputs in [0, 1])
    balance: bool = True  # weight positives as much as near misses in the loss (class_weights)
    # share of each training batch in which a random feature's own inputs are forced to a class
    # (both on / only a / only b), so every feature sees positives and near misses often; the
    # criterion still scores under the task's input distribution
    oversample: float = 0.0
    seed: int = 0

    # field roles (lab.experiment): lr varies inside a program, widths and m' are padded, the task
    # instance is drawn from (m, op, s, p, d) and the seed
    TRACED: ClassVar[tuple[str, ...]] = ("lr",)
    PADDED: ClassVar[tuple[str, ...]] = ("n", "m_out")
    IDENTITY: ClassVar[tuple[str, ...]] = ("m", "op", "s", "p", "d")

    def __post_init__(self):
        if self.s is not None and self.p is not None:
            raise ValueError("give only one of s and p (set s = none to use p)")
        task = self.task  # validates m, op, s, p, d
        if self.n < 1:
            raise ValueError(f"n (width) must be positive, got {self.n}")
        if not 1 <= self.m_out <= task.max_outputs:
            raise ValueError(
                f"m_out must be in [1, {task.max_outputs}] ({self.op} over m={self.m} has "
                f"{task.max_outputs} distinct outputs), got {self.m_out}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.objective not in LOSSES:
            raise ValueError(f"objective must be one of {LOSSES}, got {self.objective!r}")
        if self.d_out is not None and self.d_out < 1:
            raise ValueError(f"d_out (output superposition dimension) must be positive, got {self.d_out}")
        if not 0 <= self.oversample < 1:
            raise ValueError(f"oversample (share of each batch with a forced feature) must be in [0, 1), got {self.oversample}")
        if self.oversample > 0 and self.s is None:
            raise ValueError("oversample needs exactly-s inputs (s), not Bernoulli inputs (p)")

    @property
    def task(self):
        """The member's lab.experiments.superposition.task.BooleanTask (imports jax)."""
        from lab.experiments.superposition.task import BooleanTask

        return BooleanTask(m=self.m, op=self.op, s=self.s, p=self.p, d=self.d)
