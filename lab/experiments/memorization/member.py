"""One member of the memorisation lab: the settings of one attention layer and its data set (plain
Python). The paper's setting (Mahdavi, Liao & Thrampoulidis, arXiv 2306.02010) is the default."""

from __future__ import annotations

from dataclasses import dataclass

CONTEXTS = ("shared", "random")  # lab.experiments.memorization.task


@dataclass(frozen=True)
class MemorizationMember:
    """One attention layer (h heads) to fit ``examples`` random labels of sequences of 1 + context tokens."""

    examples: int = 1000  # N: training examples, each (query token, context tokens, label)
    h: int = 4  # heads
    context: int = 32  # n: context tokens per example (the query token comes on top)
    contexts: str = "shared"  # shared: one context for every example (their Fig. 2) | random: one per example
    d_model: int = 64  # embedding dimension d
    dh: int = 64  # query/key dimension per head (the paper's default is d_model)
    d_in: int = 64  # dimension of the input tokens
    classes: int = 100  # labels are uniform among these
    lr: float = 1e-3  # peak learning rate (linear warm-up, cosine decay)
    seed: int = 0

    def __post_init__(self):
        for name in ("examples", "h", "context", "d_model", "dh", "d_in", "classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.examples < 2:
            raise ValueError(f"examples must be at least 2 (one example is fitted by a constant), got {self.examples}")
        if self.classes < 2:
            raise ValueError(f"classes must be at least 2, got {self.classes}")
        if self.d_model % 2:
            raise ValueError(f"d_model must be even (sinusoidal positions pair sin and cos), got {self.d_model}")
        if self.contexts not in CONTEXTS:
            raise ValueError(f"contexts must be one of {CONTEXTS}, got {self.contexts!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    @property
    def params(self) -> int:
        """Trainable parameters: embedding, h heads (W_Q, W_K, a 1-dim W_V, a row of W_O), decoder."""
        return parameter_count(self.h, self.d_model, self.dh, self.d_in, self.classes)


def parameter_count(h, d_model, dh, d_in, classes):
    """Trainable parameters of the layer (works on numbers and numpy arrays alike)."""
    per_head = d_model * (2 * dh + 1) + d_model
    return h * per_head + (d_in + 1) * d_model + (d_model + 1) * classes
