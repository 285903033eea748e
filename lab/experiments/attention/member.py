"""One member of the attention lab: the settings of one scorer to train, refused outside the law's
regime (lab.experiments.attention docstring). Plain Python."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

GRAPHS = ("perm", "degree", "edges")  # lab.experiments.attention.task
MODELS = ("bilinear", "softmax")  # lab.experiments.attention.model
METRICS = ("recovery", "acc_edges", "acc_none", "query_acc", "precision", "recall")
MAX_DENSITY = 0.25  # most edges m'/m² a graph may have (module docstring: constant predictors fail)


@dataclass(frozen=True)
class AttentionMember:
    """One scorer to train: items m in R^d_model, a graph of m_edges edges, h heads of total key dim dk."""

    m: int = 32  # items
    d_model: int = 32  # embedding dimension (m = d_model: uncompressed, m > d_model: compressed)
    graph: str = "perm"  # perm | degree | edges
    m_edges: int = 0  # edges m' (edges: required; perm: m; degree: m * degree; 0 = the family's count)
    degree: int = 0  # out-degree of every item (graph = "degree" only; else 0)
    h: int = 1  # heads
    dk: int = 8  # total key dimension D_K = h * d_k
    context: int = 16  # items per context
    model: str = "bilinear"  # bilinear | softmax
    lr: float = 1e-2
    pos_weight: float = 1.0  # loss weight of an edge pair relative to a non-edge pair
    seed: int = 0

    # field roles (lab.experiment): lr and the graph's size vary inside a program (nested graphs),
    # key dimensions and heads are padded, the task instance is drawn from (m, d_model, graph) and the seed
    TRACED: ClassVar[tuple[str, ...]] = ("lr", "m_edges", "degree")
    PADDED: ClassVar[tuple[str, ...]] = ("dk", "h")
    IDENTITY: ClassVar[tuple[str, ...]] = ("m", "d_model", "graph")
    DERIVED: ClassVar[tuple[str, ...]] = ("compression",)  # row fields beyond the member's (row_metrics)

    def __post_init__(self):
        for name in ("m", "d_model", "h", "dk", "context"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.m < self.d_model:
            raise ValueError(f"need m >= d_model (m = d_model is the uncompressed case), got m={self.m}, d_model={self.d_model}")
        if self.dk % self.h:
            raise ValueError(f"dk (total key dimension D_K = h * d_k) must be divisible by h; got dk={self.dk}, h={self.h}")
        if self.graph not in GRAPHS:
            raise ValueError(f"graph must be one of {GRAPHS}, got {self.graph!r}")
        if self.m_edges == 0 and self.graph != "edges":
            # the count a permutation or degree graph has: sweeps give degree (and m relative to
            # d_model) and the member, its id and its row carry the edge count the laws take
            object.__setattr__(self, "m_edges", self.m * max(self.degree, 1))
        if self.graph == "perm" and (self.m_edges != self.m or self.degree != 0):
            raise ValueError(f"a permutation graph has m_edges = m = {self.m} and degree = 0; got m_edges={self.m_edges}, degree={self.degree}")
        if self.graph == "degree":
            if not 1 <= self.degree <= self.m:
                raise ValueError(f"degree must be in [1, m={self.m}] for graph 'degree', got {self.degree}")
            if self.m_edges != self.m * self.degree:
                raise ValueError(f"graph 'degree' has m_edges = m * degree = {self.m * self.degree}, got {self.m_edges}")
        if self.graph == "edges":
            if not 1 <= self.m_edges <= self.m * self.m:
                raise ValueError(f"m_edges must be in [1, m^2={self.m * self.m}] (ordered pairs, loops allowed), got {self.m_edges}")
            if self.degree != 0:
                raise ValueError(f"degree is only used by graph 'degree'; set it to 0, got {self.degree}")
        if self.m_edges > MAX_DENSITY * self.m * self.m:
            raise ValueError(
                f"m_edges = {self.m_edges} is too dense for m = {self.m}: a graph of more than m²/4 = "
                f"{int(MAX_DENSITY * self.m * self.m)} edges lets a constant predictor pass (lab.experiments.attention docstring)"
            )
        if not 2 <= self.context <= self.m:
            raise ValueError(f"context must be in [2, m={self.m}], got {self.context}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.model == "bilinear" and self.dk > self.d_model:
            raise ValueError(f"dk = {self.dk} exceeds d_model = {self.d_model}: a bilinear form on R^d_model has rank <= d_model")
        if self.model == "softmax" and self.d_k > self.d_model:
            raise ValueError(f"dk = {self.dk} gives d_k = dk / h = {self.d_k} > d_model = {self.d_model}: a head's scores have rank <= d_model")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not self.pos_weight > 0:
            raise ValueError(f"pos_weight must be positive, got {self.pos_weight}")

    @property
    def d_k(self) -> int:
        return self.dk // self.h

    @property
    def compressed(self) -> bool:
        return self.m > self.d_model

    @property
    def compression(self) -> float:
        """m / d_model: 1 uncompressed (orthonormal embeddings), > 1 items share directions."""
        return self.m / self.d_model
