"""Fixed Parameter Expansion (FPE, Kong, Subramanian et al., arXiv 2510.04500): split every hidden
neuron into alpha children, keep the number of non-zero parameters.

Network (one member, bucket shapes): h = relu(x (W1 ⊙ M1) + b1), logit = h·(w2 ⊙ m2) + b2, with
W1 (m_max, L), b1, w2 (L,), fixed 0/1 masks M1, m2 and L = alpha_max·n_max hidden lanes. The dense
network of width n uses lanes 0..n-1.

The split (``expand``), as the paper describes it:
1. child c of neuron i (lane c·n + i) copies the parent's input weights W1[:, i] and its bias, and
   keeps only the inputs a partition assigns to it: the children's masks are disjoint and their
   union is the parent's mask, so the first layer keeps its non-zero count;
2. every child copies the parent's output weight w2[i] (copied, not divided);
3. the surplus, (alpha - 1)·n output weights and (alpha - 1)·n biases (the children's), is pruned:
   that many of the smallest |weights| of W1 and w2 are masked to zero (``prune``), so the split
   network has exactly the dense network's non-zero parameters (weights and biases; ``nonzero``).

Partitions (``children``): each (input, neuron) gets a child index in 0..alpha-1:
- ``random``: independently and uniformly per input and neuron;
- ``clause``: all literals of a clause go to the same child; each neuron deals its K clauses to its
  children in a random order, round robin (balanced within one clause); irrelevant inputs random;
- ``gram``: inputs are ordered by the Fiedler vector of the affinity |W1 W1ᵀ| (the first layer's
  Gram matrix between inputs: inputs whose weights across neurons align are near each other) and
  cut into alpha equal groups, the same for every neuron; no knowledge of the clauses.

What the split preserves. With copied output weights, neuron i's output v·relu(w·x + b) becomes
v·Σ_c relu(w_c·x + b) (w_c: the weights child c keeps). For an input whose non-zero entries all lie
in the inputs of one child c, and b <= 0, the other children output relu(b) = 0 and child c outputs
relu(w·x + b): the function is unchanged. So before pruning the split preserves the network on
every input whose active variables fall, for each neuron, within one child (e.g. with the clause
split: inputs where only one clause's variables are on) when the hidden biases are non-positive;
on other inputs it does not (relu is not additive). Pruning then removes the smallest weights,
which changes the function by at most their contribution. The paper's own statement of when FPE
preserves the function is not known here; this is the property that holds by construction
(tests/test_fpe.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lab.experiments.fpe.member import SPLITS

DENSE, RANDOM, CLAUSE, GRAM = (SPLITS.index(s) for s in SPLITS)
FIEDLER_ITERS = 300  # power iterations for the Gram split's ordering (inputs <= a few hundred)


def ranks(x: jax.Array, axis: int = 0) -> jax.Array:
    """Rank of every entry along ``axis`` (0 = smallest; ties by position), int32: one sort and a
    scatter (cheaper to compile than a second sort)."""
    x = jnp.moveaxis(x, axis, 0)
    order = jnp.argsort(x, axis=0)
    idx = jnp.arange(x.shape[0], dtype=jnp.int32).reshape((-1,) + (1,) * (x.ndim - 1))
    out = jnp.zeros(x.shape, jnp.int32)
    out = jnp.put_along_axis(out, order, jnp.broadcast_to(idx, x.shape), axis=0, inplace=False)
    return jnp.moveaxis(out, 0, axis)


def lane_parent(lanes: int, n: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(parent neuron, child index) of every lane after the split: lane c·n + i is child c of i."""
    ell = jnp.arange(lanes)
    return ell % n, ell // n


def dense_masks(m_max: int, lanes: int, m: jax.Array, n: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(M1 (m_max, lanes), m2 (lanes,)) of the dense network: its m inputs and its first n lanes."""
    rows = (jnp.arange(m_max) < m).astype(jnp.float32)
    cols = (jnp.arange(lanes) < n).astype(jnp.float32)
    return rows[:, None] * cols[None, :], cols


def _mix(h: jax.Array) -> jax.Array:
    """A 32-bit integer finaliser (Wellons' "lowbias32"): every input bit affects every output bit."""
    h = h ^ (h >> jnp.uint32(16))
    h = h * jnp.uint32(0x7FEB352D)
    h = h ^ (h >> jnp.uint32(15))
    h = h * jnp.uint32(0x846CA68B)
    return h ^ (h >> jnp.uint32(16))


def table_uniform(seed: jax.Array, shape: tuple[int, int], salt: int = 0) -> jax.Array:
    """Uniforms in (0, 1) of shape (rows, cols), entry (i, j) a hash of (seed, salt, i, j), ``seed``
    two uint32 words: an entry does not depend on the table's size, so a padded bucket draws the
    same values as an exact one, and a table costs a few integer operations (per-entry PRNG keys
    compile slowly under vmap)."""
    rows, cols = shape
    s0 = _mix(seed[0] + jnp.uint32(salt))
    i = jnp.arange(rows, dtype=jnp.uint32)[:, None]
    j = jnp.arange(cols, dtype=jnp.uint32)[None, :]
    h = _mix(_mix(s0 ^ (i * jnp.uint32(0x9E3779B1))) ^ (j * jnp.uint32(0x85EBCA77)) ^ seed[1])
    return ((h >> jnp.uint32(8)).astype(jnp.float32) + 0.5) / float(1 << 24)


def random_children(seed: jax.Array, m_max: int, n_max: int, alpha: jax.Array, salt: int = 1) -> jax.Array:
    """Child index of every (input, neuron), uniform in 0..alpha-1, shape (m_max, n_max) int32."""
    u_MxN = table_uniform(seed, (m_max, n_max), salt)
    return jnp.minimum((u_MxN * alpha.astype(jnp.float32)).astype(jnp.int32), alpha - 1)


def clause_children(seed: jax.Array, clause_M: jax.Array, k_max: int, clauses: jax.Array, n_max: int,
                    alpha: jax.Array) -> jax.Array:
    """Child index of every (input, neuron), whole clauses per child, shape (m_max, n_max) int32.

    ``clause_M``: clause of each input (-1: irrelevant). Neuron j ranks its active clauses by
    uniforms and deals them to its children round robin: child = rank mod alpha.
    """
    u_KxN = table_uniform(seed, (k_max, n_max), salt=2)
    u_KxN = jnp.where((jnp.arange(k_max) < clauses)[:, None], u_KxN, jnp.inf)  # inactive clauses rank last
    by_clause_KxN = ranks(u_KxN, axis=0) % alpha
    loose_MxN = random_children(seed, clause_M.shape[0], n_max, alpha, salt=3)
    return jnp.where((clause_M >= 0)[:, None], by_clause_KxN[jnp.maximum(clause_M, 0)], loose_MxN)


def fiedler_order(w1_MxL: jax.Array, valid_M: jax.Array, seed: jax.Array) -> jax.Array:
    """Rank of every input along the Fiedler vector of the affinity A = |W1 W1ᵀ| (valid inputs
    only), shape (m_max,) int32; padding inputs rank last. Power iteration on s·I - L (L = D - A,
    s = 2·max degree) with the constant vector projected out: matrix products only, no LAPACK
    (batched LAPACK calls can deadlock XLA's CPU thread pool, see lab.experiments.attention.construction)."""
    a_MxM = jnp.abs(w1_MxL @ w1_MxL.T) * (valid_M[:, None] * valid_M[None, :])
    a_MxM = a_MxM * (1.0 - jnp.eye(a_MxM.shape[0]))
    deg_M = a_MxM.sum(1)
    shift = 2.0 * jnp.max(deg_M) + 1e-6
    ones_M = valid_M / jnp.sqrt(jnp.maximum(valid_M.sum(), 1.0))

    def step(v_M, _):
        v_M = shift * v_M - (deg_M * v_M - a_MxM @ v_M)
        v_M = (v_M - ones_M * (ones_M @ v_M)) * valid_M
        return v_M / jnp.maximum(jnp.linalg.norm(v_M), 1e-30), None

    v0 = (table_uniform(seed, (valid_M.shape[0], 1), salt=4)[:, 0] - 0.5) * valid_M
    v_M, _ = jax.lax.scan(step, v0 / jnp.maximum(jnp.linalg.norm(v0), 1e-30), None, length=FIEDLER_ITERS)
    return ranks(jnp.where(valid_M > 0, v_M, jnp.inf))


def gram_children(seed: jax.Array, w1_MxL: jax.Array, valid_M: jax.Array, n_max: int, alpha: jax.Array) -> jax.Array:
    """Child index of every (input, neuron): alpha equal groups along the Fiedler ordering, shape (m_max, n_max)."""
    rank_M = fiedler_order(w1_MxL, valid_M, seed)
    m = jnp.maximum(valid_M.sum(), 1.0)
    child_M = jnp.minimum((rank_M.astype(jnp.float32) * alpha.astype(jnp.float32) / m).astype(jnp.int32), alpha - 1)
    return jnp.broadcast_to(child_M[:, None], (w1_MxL.shape[0], n_max))


def expand(params: dict, mask1_MxL: jax.Array, children_MxN: jax.Array, n: jax.Array, alpha: jax.Array) -> tuple[dict, jax.Array, jax.Array]:
    """Steps 1-2 of the split (module docstring): (params, M1, m2) of the expanded network, unpruned.

    ``params``: w1_MxL, b1_L, w2_L, b2 of the dense network (lanes < n); ``children_MxN``: child
    index of every (input, neuron) for neurons 0..n_max-1 (n_max <= lanes).
    """
    lanes = mask1_MxL.shape[1]
    parent_L, child_L = lane_parent(lanes, n)
    valid_L = (jnp.arange(lanes) < alpha * n).astype(jnp.float32)
    keep_MxL = (children_MxN[:, parent_L] == child_L[None, :]).astype(jnp.float32)
    new = {
        "w1_MxL": params["w1_MxL"][:, parent_L],
        "b1_L": params["b1_L"][parent_L] * valid_L,
        "w2_L": params["w2_L"][parent_L] * valid_L,
        "b2": params["b2"],
    }
    return new, mask1_MxL[:, parent_L] * keep_MxL * valid_L[None, :], valid_L


def prune(params: dict, mask1_MxL: jax.Array, mask2_L: jax.Array, surplus: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Step 3: mask out the ``surplus`` smallest |weights| among the unmasked entries of W1 and w2."""
    mags = jnp.concatenate([jnp.where(mask1_MxL > 0, jnp.abs(params["w1_MxL"]), jnp.inf).ravel(),
                            jnp.where(mask2_L > 0, jnp.abs(params["w2_L"]), jnp.inf)])
    rank = ranks(mags)
    keep = (rank >= surplus).astype(jnp.float32)
    size1 = mask1_MxL.size
    return mask1_MxL * keep[:size1].reshape(mask1_MxL.shape), mask2_L * keep[size1:]


def nonzero(mask1_MxL: jax.Array, mask2_L: jax.Array, units: jax.Array) -> jax.Array:
    """Non-zero parameters of a network with ``units`` hidden units: its unmasked weights, one bias
    per unit and the output bias (a pruned weight is zero; a bias is counted whether or not it is)."""
    return mask1_MxL.sum() + mask2_L.sum() + units + 1.0


def partition(params: dict, mask1_MxL: jax.Array, *, split: jax.Array, key: jax.Array, clause_M: jax.Array, k_max: int,
              n_max: int, clauses: jax.Array, m: jax.Array, alpha: jax.Array) -> jax.Array:
    """The child index of every (input, neuron) under the partition ``split`` names (zeros for the
    dense arm), shape (m_max, n_max). Every partition is computed (they are cheap); the traced
    ``split`` picks one, so every arm runs in one program."""
    m_max = mask1_MxL.shape[0]
    valid_M = (jnp.arange(m_max) < m).astype(jnp.float32)
    seed = jax.random.bits(key, (2,), jnp.uint32)
    by_split = jnp.stack([
        jnp.zeros((m_max, n_max), jnp.int32),
        random_children(seed, m_max, n_max, alpha),
        clause_children(seed, clause_M, k_max, clauses, n_max, alpha),
        gram_children(seed, params["w1_MxL"] * mask1_MxL, valid_M, n_max, alpha),
    ])
    return by_split[jnp.clip(split, 0, len(SPLITS) - 1)]


def fpe(params: dict, masks: tuple[jax.Array, jax.Array], *, split: jax.Array, key: jax.Array, clause_M: jax.Array,
        k_max: int, n_max: int, clauses: jax.Array, m: jax.Array, n: jax.Array, alpha: jax.Array) -> tuple[dict, tuple[jax.Array, jax.Array]]:
    """The split of one member (module docstring): the dense network unchanged for ``split == DENSE``,
    else the pruned expansion under the split's partition."""
    mask1_MxL, mask2_L = masks
    children_MxN = partition(params, mask1_MxL, split=split, key=key, clause_M=clause_M, k_max=k_max, n_max=n_max,
                             clauses=clauses, m=m, alpha=alpha)
    new, m1, m2 = expand(params, mask1_MxL, children_MxN, n, alpha)
    m1, m2 = prune(new, m1, m2, 2 * (alpha - 1) * n)
    dense = split == DENSE
    pick = lambda a, b: jnp.where(dense, a, b)  # noqa: E731
    return jax.tree.map(pick, params, new), (pick(mask1_MxL, m1), pick(mask2_L, m2))
