"""Training an FPE member: dense warm-up, the split (or not: the dense arm), continued training.

The paper's schedule (arXiv 2510.04500): train the dense network, apply FPE, train on with the
masks fixed; the dense baseline trains for the same total number of steps. Here both phases are
``lab.training.train_loop`` scans inside one program, and the split between them is the pure
function lab.experiments.fpe.split.fpe; the arm (dense, random, clause, gram) is a traced integer,
so dense and split networks of a bucket are one vmapped program. Every arm restarts its optimizer
at the split point (the split changes the parameters' shapes in the paper; here the dense arm is
restarted too, so that the arms differ only in the split). Members of one seed share their
warm-up (same keys: the arm is not an identity field), so arms are paired.

Inputs: fresh draws every step (``train_size = 0``, the default), or, as the paper trains for epochs,
a fixed training set of ``train_size`` inputs from which each batch is drawn uniformly with
replacement; held-out accuracy is measured on a separate draw either way.

Widths, alpha and clauses are padded: a bucket holds n_max·alpha_max hidden lanes and K_max
clauses; masks make a member train exactly as at its own size (tests/test_fpe.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from lab import experiment
from lab.experiments.fpe import split as fpe_split
from lab.experiments.fpe import task
from lab.experiments.fpe.success import FPESuccess
from lab.losses import weighted_bce
from lab.training import TrainConfig, train_loop


def member_keys(root: jax.Array) -> dict[str, jax.Array]:
    """Independent streams of one member's root key."""
    names = ("signs", "init", "split", "data")
    return {name: jax.random.fold_in(root, i) for i, name in enumerate(names)}


def task_key(static: Mapping[str, Any], what: str) -> jax.Array:
    """A stream shared by every member of a task setting (literal values are independent of the
    formula's signs and of the member, so a bucket draws them once per step)."""
    ident = f"fpe-{what}:k={static['k']},extra={static['extra']},form={static['form']}"
    return jax.random.key(experiment.stable_hash(ident))


def init_params(key: jax.Array, m_max: int, lanes: int, m: jax.Array) -> dict:
    """Dense network: W1 entries N(0, 1/m), entry (i, j) from a hash of (key, i, j) (independent of
    the bucket's size, lab.experiments.fpe.split.table_uniform); biases and output weights zero."""
    normal_MxL = jax.scipy.special.ndtri(fpe_split.table_uniform(jax.random.bits(key, (2,), jnp.uint32), (m_max, lanes)))
    w1 = normal_MxL / jnp.sqrt(m.astype(jnp.float32))
    return {"w1_MxL": w1, "b1_L": jnp.zeros((lanes,)), "w2_L": jnp.zeros((lanes,)), "b2": jnp.zeros(())}


def forward(params: dict, masks: tuple[jax.Array, jax.Array], x_BxM: jax.Array) -> jax.Array:
    """Logits, shape (B,): relu(x (W1 ⊙ M1) + b1) · (w2 ⊙ m2) + b2."""
    mask1_MxL, mask2_L = masks
    h_BxL = jax.nn.relu(x_BxM @ (params["w1_MxL"] * mask1_MxL) + params["b1_L"])
    return h_BxL @ (params["w2_L"] * mask2_L) + params["b2"]


def phases(cfg: TrainConfig, split_at: float) -> tuple[TrainConfig, TrainConfig, bool]:
    """The two train_loop configurations and whether the first one's evaluations are reported.

    With evals >= 2 the split falls on the evaluation point nearest ``split_at`` of the run (at
    least one on each side) and both phases report; with evals = 1 (only the end is evaluated) it
    falls on the step nearest ``split_at`` and the warm-up's evaluation is dropped."""
    if cfg.steps < 2:
        raise ValueError(f"[train] steps = {cfg.steps}: the FPE lab needs at least 2 steps (one before the split, one after)")
    if cfg.evals == 1:
        s1 = min(max(round(cfg.steps * split_at), 1), cfg.steps - 1)
        return dataclasses.replace(cfg, steps=s1, evals=1), dataclasses.replace(cfg, steps=cfg.steps - s1, evals=1), False
    e1 = min(max(round(cfg.evals * split_at), 1), cfg.evals - 1)
    per = cfg.steps_per_eval
    return (dataclasses.replace(cfg, steps=e1 * per, evals=e1),
            dataclasses.replace(cfg, steps=(cfg.evals - e1) * per, evals=cfg.evals - e1), True)


def make_train(static: Mapping[str, Any], train_cfg: TrainConfig, success: FPESuccess):
    """Build train(root_key, hyper) for one bucket; hyper = {lr, split, clauses, n, alpha} (scalars)."""
    k, form, active = static["k"], static["form"], static["active"]
    train_size = static.get("train_size", 0)
    k_max, n_max, alpha_max = static["clauses"], static["n"], static["alpha"]
    m_max, lanes = k_max * k + static["extra"], alpha_max * n_max
    cfg1, cfg2, report_warm_up = phases(train_cfg, static["split_at"])
    data_key = task_key(static, "data")
    # held-out literal values are thresholded uniforms; the uniforms are shared by the bucket and
    # each member thresholds them at its own rate (its clause count)
    eval_u_SxM = task.column_uniforms(task_key(static, "eval"), success.samples, m_max)

    def train(root: jax.Array, hyper: Mapping[str, jax.Array]):
        keys = member_keys(root)
        clauses, n, alpha, arm = hyper["clauses"], hyper["n"], hyper["alpha"], hyper["split"]
        m = clauses * k + static["extra"]
        signs_M = task.variable_signs(keys["signs"], m_max, static["negate"])
        in_M = task.input_mask(m_max, m)
        if active:
            def draw(key, batch):
                return task.sample_sparse(key, batch, active=active, clauses=clauses, k=k, k_max=k_max, m=m, m_max=m_max)

            eval_x_SxM, eval_y_S = draw(task_key(static, "eval"), success.samples)
        else:
            def draw(key, batch):
                return task.sample(key, batch, form=form, clauses=clauses, k=k, k_max=k_max, m=m, m_max=m_max, signs_M=signs_M)

            eval_lit_SxM = (eval_u_SxM < task.truth_rate(form, clauses, k)).astype(jnp.float32)
            eval_y_S = task.targets(eval_lit_SxM, form, clauses, k, k_max)
            eval_x_SxM = jnp.abs(eval_lit_SxM - signs_M) * in_M

        if train_size:
            # a fixed training set (the paper trains for epochs); its inputs come from a stream shared by
            # the task setting, like the held-out set's, so a padded member sees the same set
            pool_x_NxM, pool_y_N = draw(task_key(static, "pool"), train_size)

            def batch_of(key, batch):
                i_B = jax.random.randint(key, (batch,), 0, train_size)  # uniform, with replacement
                return pool_x_NxM[i_B], pool_y_N[i_B]
        else:
            batch_of = draw

        def loss_of(masks):
            def loss_fn(params, batch):
                x_BxM, y_B = batch
                return weighted_bce(forward(params, masks, x_BxM), y_B, jnp.ones_like(y_B)) / train_cfg.batch
            return loss_fn

        def evaluate_of(masks, units):
            def evaluate(params):
                pred_S = (forward(params, masks, eval_x_SxM) > 0).astype(jnp.float32)
                pos, neg = eval_y_S.sum(), (1.0 - eval_y_S).sum()
                acc = (pred_S == eval_y_S).astype(jnp.float32).mean()
                return {
                    "acc": acc,
                    "tpr": (pred_S * eval_y_S).sum() / jnp.maximum(pos, 1.0),
                    "tnr": ((1.0 - pred_S) * (1.0 - eval_y_S)).sum() / jnp.maximum(neg, 1.0),
                    "nonzero": fpe_split.nonzero(masks[0], masks[1], units),
                    "success": acc >= success.level - 1e-9,
                }
            return evaluate

        def phase(params, masks, units, p, cfg):
            return train_loop(params, loss_fn=loss_of(masks), evaluate=evaluate_of(masks, units),
                              data_key=jax.random.fold_in(data_key, p), learning_rate=hyper["lr"], cfg=cfg,
                              sample=lambda key: batch_of(key, train_cfg.batch))

        def split(params, masks):
            params, masks = fpe_split.fpe(params, masks, split=arm, key=keys["split"], k_max=k_max, n_max=n_max,
                                          clause_M=task.clause_of_variable(m_max, k, clauses), clauses=clauses, m=m, n=n, alpha=alpha)
            return params, masks, jnp.where(arm == fpe_split.DENSE, n, alpha * n).astype(jnp.float32)

        params = init_params(keys["init"], m_max, lanes, m)
        masks = fpe_split.dense_masks(m_max, lanes, m, n)
        dense_units = n.astype(jnp.float32)
        if cfg1 == cfg2:
            # equal phases: one scan over the two, so the training loop is traced (and compiled) once;
            # the split is computed before both and applied before the second
            def body(carry, p):
                params, masks, units = carry
                carry = jax.tree.map(lambda a, b: jnp.where(p == 0, a, b), (params, masks, units), split(params, masks))
                params, metrics = phase(*carry, p, cfg1)
                return (params, carry[1], carry[2]), metrics

            (params, masks, _), metrics = jax.lax.scan(body, (params, masks, dense_units), jnp.arange(2))
            metrics = jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), metrics)
        else:
            params, metrics1 = phase(params, masks, dense_units, 0, cfg1)
            params, masks, units = split(params, masks)
            params, metrics = phase(params, masks, units, 1, cfg2)
            if report_warm_up:
                metrics = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), metrics1, metrics)
        return {**params, "mask1_MxL": masks[0], "mask2_L": masks[1]}, metrics

    return train
