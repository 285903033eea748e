"""One member of the FPE lab: one network, dense or split, on one Boolean formula (plain Python)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

# How a member's hidden layer is treated at the split point (lab.experiments.fpe.split): ``dense`` is
# left as it is (the baseline); the others split every neuron into ``alpha`` children whose input
# weights partition the parent's, by a random mask, by whole clauses, or by clusters of the
# first layer's Gram matrix. The member stores the index, so that every arm is one traced integer
# and dense and split networks share one compiled program.
SPLITS = ("dense", "random", "clause", "gram")
FORMS = ("dnf", "cnf")
MAX_INPUTS = 4096  # variables K·k + extra a member may have (the inputs are dense arrays)


@dataclass(frozen=True)
class FPEMember:
    """One network: formula (clauses K of k literals, extra variables, form), inputs, width n, split, lr, seed."""

    clauses: int = 8  # K clauses, each on k variables of its own
    k: int = 3  # literals per clause
    extra: int = 0  # irrelevant variables beside the K·k of the formula
    form: str = "dnf"  # dnf: OR of ANDs | cnf: AND of ORs
    negate: bool = True  # literals negated at random (False: a monotone formula)
    active: int = 0  # 0: dense inputs (each literal true with the balancing rate); s > 0: exactly s variables on
    n: int = 8  # hidden neurons of the dense network
    alpha: int = 2  # children per neuron of the split (a dense member is the baseline for this alpha)
    split: int | str = "clause"  # a name of SPLITS (or its index); stored as the index
    split_at: float = 0.5  # share of the training steps before the split
    train_size: int = 0  # 0: fresh inputs every step; N > 0: a fixed training set of N inputs, batches drawn from it (epochs, as in the paper)
    lr: float = 0.01
    seed: int = 0

    # field roles (lab.experiment): every arm, clause count, width and alpha of a task setting share
    # one program; the arm is not an identity field, so the arms of a seed share their warm-up
    TRACED: ClassVar[tuple[str, ...]] = ("lr", "split")
    PADDED: ClassVar[tuple[str, ...]] = ("clauses", "n", "alpha")
    IDENTITY: ClassVar[tuple[str, ...]] = ("k", "extra", "form", "negate", "active")
    DERIVED: ClassVar[tuple[str, ...]] = ("arm", "load")  # row fields beyond the member's (row_metrics)

    def __post_init__(self):
        if isinstance(self.split, str):
            if self.split not in SPLITS:
                raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
            # the one written-back value: a name in the spec, an index in the program (module comment)
            object.__setattr__(self, "split", SPLITS.index(self.split))
        elif isinstance(self.split, bool) or not 0 <= self.split < len(SPLITS):
            raise ValueError(f"split must be one of {SPLITS} (or its index 0-{len(SPLITS) - 1}), got {self.split!r}")
        if self.clauses < 1:
            raise ValueError(f"clauses must be positive, got {self.clauses}")
        if self.k < 1:
            raise ValueError(f"k (literals per clause) must be positive, got {self.k}")
        if self.extra < 0:
            raise ValueError(f"extra (irrelevant variables) must be >= 0, got {self.extra}")
        if self.m > MAX_INPUTS:
            raise ValueError(f"clauses·k + extra = {self.m} variables; at most {MAX_INPUTS}")
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {self.form!r}")
        if self.active:
            if self.form != "dnf" or self.negate:
                raise ValueError(f"active = {self.active} (sparse inputs) needs a monotone DNF (form = 'dnf', negate = false)")
            if not self.k <= self.active <= self.m:
                raise ValueError(f"active must be 0 (dense inputs) or in [k = {self.k}, m = {self.m}], got {self.active}")
        if self.n < 1:
            raise ValueError(f"n (hidden neurons) must be positive, got {self.n}")
        if self.alpha < 2:
            raise ValueError(f"alpha (children per neuron) must be >= 2, got {self.alpha}")
        # the split's surplus, (alpha - 1)·n output weights and as many biases, is pruned from the
        # weights: there must be that many left over (lab.experiments.fpe.split.prune)
        if 2 * (self.alpha - 1) * self.n >= self.m * self.n + self.n:
            raise ValueError(f"alpha = {self.alpha} is too large for m = {self.m} variables: the split's surplus "
                             f"2·(alpha - 1)·n = {2 * (self.alpha - 1) * self.n} cannot be pruned from {self.m * self.n + self.n} weights")
        if isinstance(self.train_size, bool) or not isinstance(self.train_size, int) or self.train_size < 0:
            raise ValueError(f"train_size must be 0 (fresh inputs every step) or a positive number of inputs, got {self.train_size!r}")
        if not 0 < self.split_at < 1:
            raise ValueError(f"split_at (share of steps before the split) must be in (0, 1), got {self.split_at}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    @property
    def m(self) -> int:
        """Input variables: the formula's K·k and the irrelevant ones."""
        return self.clauses * self.k + self.extra

    @property
    def arm(self) -> str:
        """The split's name (SPLITS)."""
        return SPLITS[self.split]

    @property
    def load(self) -> float:
        """Clauses per neuron of the dense network, K/n: the interference the paper varies."""
        return self.clauses / self.n
