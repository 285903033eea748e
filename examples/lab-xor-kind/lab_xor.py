"""Experiment kind ``xor``: how many pairwise XORs of dense Boolean inputs n ReLU neurons compute.

A worked example of a kind that lives outside the lab (docs/extending.md): this one module is the
whole kind; nothing in lab/ names it.

Task: x in {0, 1}^m with every bit a fair coin (dense: no sparsity for superposition to exploit,
unlike the superposition kind, arXiv 2409.15318); output k is x_a XOR x_b for the k-th of m // 2
disjoint pairs. Model: one hidden layer of n ReLUs and a linear readout of m' logits. Two neurons
per output suffice (x_a XOR x_b = relu(x_a - x_b) + relu(x_b - x_a)), so m'*(n) >= n/2: is trained
capacity linear in n, and with what constant?

Success (``XorSuccess``): every one of the m' outputs errs on at most ``epsilon`` of ``samples``
held-out inputs. The kind imports jax only inside ``make_train``, so `lab fit` and `lab report`
stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from lab import experiment
from lab.fit import FitReport, common, compare_laws, interval_text, law_fit
from lab.laws import Law, register


@dataclass(frozen=True)
class XorMember:
    """One network: n hidden ReLUs computing m_out XORs of 2·m_out input bits."""

    n: int = 8
    m_out: int = 4
    lr: float = 0.01
    seed: int = 0

    # field roles (lab.experiment): lr varies inside a program; widths and m' are padded by masks;
    # nothing but the seed draws the task instance (output j always reads bits 2j and 2j+1)
    TRACED: ClassVar[tuple[str, ...]] = ("lr",)
    PADDED: ClassVar[tuple[str, ...]] = ("n", "m_out")

    def __post_init__(self):
        if self.n < 1:
            raise ValueError(f"n (width) must be positive, got {self.n}")
        if self.m_out < 1:
            raise ValueError(f"m_out (XOR outputs) must be positive, got {self.m_out}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class XorSuccess:
    """A network succeeds when each of its m' outputs errs on at most epsilon of the held-out inputs."""

    epsilon: float = 0.02
    samples: int = 2048  # held-out inputs

    def __post_init__(self):
        if not 0 < self.epsilon < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {self.epsilon}")
        if self.samples < 1:
            raise ValueError(f"samples must be positive, got {self.samples}")


def make_train(static: Mapping[str, Any], train_cfg, success: XorSuccess):
    """train(root_key, hyper) of one member; hyper = {lr, n, m_out}, n and m_out padded by masks."""
    import jax
    import jax.numpy as jnp

    from lab.losses import weighted_bce
    from lab.training import train_loop

    n_max, k_max = static["n"], static["m_out"]

    def train(root, hyper):
        k_init, k_data, k_eval = (jax.random.fold_in(root, i) for i in range(3))
        n, k = hyper["n"], hyper["m_out"].astype(jnp.float32)
        mask_N = (jnp.arange(n_max) < n).astype(jnp.float32)
        mask_K = (jnp.arange(k_max) < hyper["m_out"]).astype(jnp.float32)

        def sample(key, size):
            # bits 2j and 2j+1 feed output j; bits of padded outputs are 0. Drawn input-major: jax's
            # threefry makes bit (i, b) from counter i·size + b, whatever the bucket's number of inputs
            x_BxI = jax.random.bernoulli(key, 0.5, (2 * k_max, size)).T.astype(jnp.float32) * jnp.repeat(mask_K, 2)
            return x_BxI, jnp.abs(x_BxI[:, 0::2] - x_BxI[:, 1::2])

        def forward(p, x_BxI):
            h_BxN = jax.nn.relu(x_BxI @ p["w_IxN"] + p["b_N"]) * mask_N
            return h_BxN @ p["v_NxK"] + p["c_K"]

        def loss_fn(p, batch):  # batch: what train_loop's sample hook drew for this step
            x_BxI, y_BxK = batch
            w_BxK = jnp.broadcast_to(mask_K, y_BxK.shape)
            return weighted_bce(forward(p, x_BxI), y_BxK, w_BxK) / (train_cfg.batch * k)

        x_eval, y_eval = sample(k_eval, success.samples)

        def evaluate(p):
            err_K = ((forward(p, x_eval) > 0).astype(jnp.float32) != y_eval).astype(jnp.float32).mean(axis=0)
            n_ok = ((err_K <= success.epsilon).astype(jnp.float32) * mask_K).sum()
            return {"n_ok": n_ok, "frac_ok": n_ok / k, "err_max": (err_K * mask_K).max(), "success": n_ok >= k}

        # neuron j's weights from fold_in(key, j): a member's first n neurons are the same in any bucket
        w_NxI = jax.vmap(lambda j: jax.random.normal(jax.random.fold_in(k_init, j), (2 * k_max,)))(jnp.arange(n_max))
        params = {"w_IxN": w_NxI.T / jnp.sqrt(2 * k), "b_N": jnp.zeros(n_max),
                  "v_NxK": jnp.zeros((n_max, k_max)), "c_K": jnp.zeros(k_max)}
        shared = jax.random.key(experiment.stable_hash("xor-data"))  # one batch stream for every member
        return train_loop(params, loss_fn=loss_fn, evaluate=evaluate, data_key=shared if train_cfg.data == "task" else k_data,
                          learning_rate=hyper["lr"], cfg=train_cfg, sample=lambda key: sample(key, train_cfg.batch))

    return train


def cost(shape: Mapping[str, Any]) -> float:
    """Relative FLOPs of one step: the two matrix products."""
    return float(shape["n"] * 3 * shape["m_out"])


def bytes_per_member(shape: Mapping[str, Any], train_cfg, success: XorSuccess) -> int:
    """Rough peak memory of one member: parameters with Adam's moments, activations, held-out set."""
    n, k = shape["n"], shape["m_out"]
    return 4 * (5 * n * (3 * k + 1) + (train_cfg.batch + success.samples) * (2 * n + 4 * k))


def row_metrics(member: XorMember, metrics: dict) -> dict:
    """Every metric at every evaluation point, as lists (n_ok and frac_ok feed the capacity views)."""
    return {k: np.round(np.asarray(v, dtype=np.float64), 6).tolist() for k, v in metrics.items()}


def success_text(success: XorSuccess) -> str:
    return (f"a network succeeds when each of its m' XOR outputs errs on at most {success.epsilon:g} of "
            f"{success.samples} held-out dense inputs")


# The laws: linear (what dedicated neurons give), a free exponent, and the O(n²/log n) that
# superposition allows sparse inputs. Names are global in lab.laws, hence the prefix.
register(Law("xor_linear", "c·n", ("c",), ("n",), lambda v, p: p["c"] * v["n"]))
register(Law("xor_power", "c·n^α", ("c", "alpha"), ("n",), lambda v, p: p["c"] * v["n"] ** p["alpha"],
             starts={"alpha": (0.5, 1.0, 2.0)}))
register(Law("xor_n2_over_log", "c·n²/log n", ("c",), ("n",), lambda v, p: p["c"] * v["n"] ** 2 / np.log(v["n"])))


def verdicts(report: FitReport) -> list[str]:
    """The fit against the two-neurons-per-XOR construction (c = 1/2)."""
    out = common(report)
    linear, power = law_fit(report, "xor_linear"), law_fit(report, "xor_power")
    if linear is not None:
        out.append(f"m'*/n = c = {interval_text(linear, 'c')}; two neurons per XOR give c = 0.5")
    if power is not None:
        out.append(f"free exponent: m'* ∝ n^α with α = {interval_text(power, 'alpha')} (linear: 1)")
    ranking = compare_laws(report, ("xor_linear", "xor_n2_over_log"))
    return out + ([ranking] if ranking else [])


EXPERIMENT = experiment.register(experiment.Experiment(
    name="xor",
    member=XorMember,
    success=XorSuccess,
    make_train=make_train,
    cost=cost,
    bytes_per_member=bytes_per_member,
    row_metrics=row_metrics,
    analysis=experiment.Analysis(resource="m_out", direction="decreasing", series=("n",),
                                 laws=("xor_linear", "xor_power", "xor_n2_over_log"), covariates=("n",),
                                 views=("success", "computed")),
    description="one ReLU layer computing pairwise XORs of dense Boolean inputs (a worked example)",
    success_text=success_text,
    verdicts=verdicts,
    figures=None,  # the lab's generic figures only (residuals of every converged law)
))
