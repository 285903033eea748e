"""Boolean DNF and CNF formulas over clauses of k literals, the task of the FPE lab (arXiv 2510.04500).

A formula has K clauses of k literals each; clause j reads the variables j·k .. j·k + k - 1, so
clauses share no variable (the MLP is exchangeable over its inputs: a fixed layout loses nothing),
and variables K·k .. K·k + extra - 1 are irrelevant. Each variable has a sign s_i (negated with
probability 1/2 when ``negate``, else 0): the literal of variable i is x_i XOR s_i.

- DNF: y = OR_j AND_{i in clause j} literal_i.
- CNF: y = AND_j OR_{i in clause j} literal_i.

Inputs: the literal values are independent, each true with probability q (DNF) or 1 - q (CNF),
q = (1 - 2^(-1/K))^(1/k), so that P(y = 1) = 1 - (1 - q^k)^K = 1/2 (DNF) and P(y = 0) = 1/2 (CNF):
the classes are balanced and a constant predictor scores 1/2. x = literals XOR signs.

Padding over K: a bucket holds K_max clauses (m_max = K_max·k + extra input lanes); a member's
formula is the first K clauses, its irrelevant variables follow them, lanes beyond its m are zero.
Signs and input lanes are drawn with the variable as the leading axis (JAX's partitionable threefry
counts entries in row-major order), so a member's task does not depend on the bucket it is
trained in.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def literal_rate(clauses: jax.Array, k: int) -> jax.Array:
    """q = (1 - 2^(-1/K))^(1/k): literals true with probability q make an OR of K k-ANDs true half the time."""
    kk = jnp.asarray(clauses, jnp.float32)
    return (1.0 - 2.0 ** (-1.0 / kk)) ** (1.0 / k)


def variable_signs(key: jax.Array, m_max: int, negate: bool) -> jax.Array:
    """Sign s_i in {0, 1} of every variable lane, shape (m_max,) float32; all 0 for a monotone formula."""
    if not negate:
        return jnp.zeros((m_max,), jnp.float32)
    return jax.random.bernoulli(key, 0.5, (m_max,)).astype(jnp.float32)  # entry i depends on i alone (module docstring)


def input_mask(m_max: int, m: jax.Array) -> jax.Array:
    """1.0 on the member's m variable lanes, 0.0 on the padding, shape (m_max,)."""
    return (jnp.arange(m_max) < m).astype(jnp.float32)


def column_uniforms(key: jax.Array, batch: int, m_max: int) -> jax.Array:
    """Uniforms of shape (batch, m_max) whose lane i does not depend on m_max: drawn as (m_max,
    batch), whose row i depends on i and the batch size alone (JAX's partitionable threefry
    counts entries in row-major order), and transposed."""
    return jax.random.uniform(key, (m_max, batch)).T


def sample_literals(key: jax.Array, batch: int, m_max: int, rate: jax.Array) -> jax.Array:
    """Literal values, shape (batch, m_max) float32, each true with probability ``rate``."""
    return (column_uniforms(key, batch, m_max) < rate).astype(jnp.float32)


def truth_rate(form: str, clauses: jax.Array, k: int) -> jax.Array:
    """Probability that a literal is true under the task's input distribution (module docstring)."""
    q = literal_rate(clauses, k)
    return q if form == "dnf" else 1.0 - q


def targets(lit_BxM: jax.Array, form: str, clauses: jax.Array, k: int, k_max: int) -> jax.Array:
    """The formula's value on literal values, shape (B,) float32; only the first ``clauses`` of the
    bucket's ``k_max`` clauses count."""
    b = lit_BxM.shape[0]
    lit_BxKxk = lit_BxM[:, : k_max * k].reshape(b, k_max, k)
    active_K = jnp.arange(k_max) < clauses
    if form == "dnf":
        clause_BxK = jnp.all(lit_BxKxk > 0.5, axis=-1) & active_K
        return jnp.any(clause_BxK, axis=-1).astype(jnp.float32)
    clause_BxK = jnp.any(lit_BxKxk > 0.5, axis=-1) | ~active_K
    return jnp.all(clause_BxK, axis=-1).astype(jnp.float32)


def sample(key: jax.Array, batch: int, *, form: str, clauses: jax.Array, k: int, k_max: int, m: jax.Array,
           m_max: int, signs_M: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(inputs x (batch, m_max), targets y (batch,)) of one member's task; padding lanes are 0."""
    lit_BxM = sample_literals(key, batch, m_max, truth_rate(form, clauses, k))
    y_B = targets(lit_BxM, form, clauses, k, k_max)
    x_BxM = jnp.abs(lit_BxM - signs_M) * input_mask(m_max, m)
    return x_BxM, y_B


def clause_of_variable(m_max: int, k: int, clauses: jax.Array) -> jax.Array:
    """Clause index of every variable lane, shape (m_max,) int32; -1 for irrelevant variables and padding."""
    i = jnp.arange(m_max)
    return jnp.where(i < clauses * k, i // k, -1).astype(jnp.int32)


def sample_sparse(key: jax.Array, batch: int, *, active: int, clauses: jax.Array, k: int, k_max: int, m: jax.Array,
                  m_max: int) -> tuple[jax.Array, jax.Array]:
    """Sparse inputs of a monotone DNF: exactly ``active`` of the m variables on; in half the inputs
    (chosen at random) the k variables of a uniformly chosen clause are among them (planted), the
    others are uniform. Targets are the formula's value (an unplanted input contains a whole clause
    by chance only rarely). Shapes (batch, m_max), (batch,)."""
    k_plant, k_clause, k_rest = jax.random.split(key, 3)
    plant_B = jax.random.bernoulli(k_plant, 0.5, (batch,))
    clause_B = jnp.minimum((jax.random.uniform(k_clause, (batch,)) * clauses.astype(jnp.float32)).astype(jnp.int32), clauses - 1)
    lane_M = jnp.arange(m_max)
    planted_BxM = (plant_B[:, None] & (lane_M[None, :] // k == clause_B[:, None]) & (lane_M[None, :] < clauses * k))
    score_BxM = column_uniforms(k_rest, batch, m_max)
    score_BxM = jnp.where((lane_M[None, :] < m) & ~planted_BxM, score_BxM, -1.0)
    n_rest_B = active - k * plant_B.astype(jnp.int32)
    # the n_rest largest scores among the free lanes: rank each free lane by its score
    _, top_BxA = jax.lax.top_k(score_BxM, active)
    chosen_BxA = jnp.arange(active)[None, :] < n_rest_B[:, None]
    x_BxM = planted_BxM.astype(jnp.float32)
    x_BxM = x_BxM.at[jnp.arange(batch)[:, None], top_BxA].max(chosen_BxA.astype(jnp.float32))
    return x_BxM, targets(x_BxM, "dnf", clauses, k, k_max)
