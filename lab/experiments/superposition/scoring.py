"""When a trained network computes its Boolean features: exact per-feature scoring (the criterion's
settings are lab.experiments.superposition.criterion.Criterion).

Each output feature j reads its own inputs (a, b) (``perm``: a = b). Every input falls into one of
the feature's *local classes*, the values of (x_a, x_b): both on, only a, only b, neither. The
feature's fire rate on each class, weighted by how often the class occurs, gives everything:

- ``fnr``: the false-negative rate over all positives (inputs whose target is 1);
- ``fpr``: the false-positive rate of each negative class separately (for 2-AND: only a, only b,
  neither), and ``fpr_max`` the largest of them (a max, not a mean: a feature that fires on
  every "only a" input fails even if it never fires on "only b");
- ``precision``: of the inputs on which the output fires, the fraction whose target is 1, under the
  task's input distribution. Sparse features are rare, so a tiny false-positive rate on the
  common both-off class can still mean most firings are wrong: AND(a, b) OR AND(c, d) has
  per-class false-positive rates below 0.2% at m = 64, s = 3, yet precision 1/2.

A feature is *computed* when fnr <= ε, fpr_max <= ε and precision >= 1 - ε: the output is a
reliable detector of the feature and a reliable witness of it, which is what the paper's "the network
computes the feature" means for a Boolean output read by a threshold (Adler & Shavit, arXiv
2409.15318, define computation by the outputs being right on the sparse inputs; here errors are
allowed on an ε share of them, counted per class and relative to the feature's own frequency).

Exact scoring (``exact``): with exactly s inputs active, the input distribution is uniform over the
C(m, s) subsets, and when there are at most ``Criterion.max_inputs`` of them every rate is computed
by enumerating them all: no sampling noise decides a pass or a fail, whatever the number of
features. Otherwise (Bernoulli inputs, or too many subsets) ``sampled`` forces each class on
``samples`` held-out inputs per feature; choose samples so that a binomial interval at ε is
narrower than ε/4 (``Criterion.samples_needed``). A network succeeds when a fraction >= ``fraction``
of its m' features is computed.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from lab.experiments.superposition.task import BooleanTask, apply_op, background_task, sample_inputs
from lab.experiments.superposition.criterion import Criterion, scored_exactly
from lab.experiments.superposition.mlp import width_mask

# the local classes (x_a, x_b) of a feature, in this order everywhere
CLASSES_Ax2 = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
CLASS_NAMES = ("neither", "only_b", "only_a", "both")


def all_inputs(task: BooleanTask) -> np.ndarray:
    """Every input of an exactly-s task as its active indices, shape (C(m, s), s) int32."""
    return np.array(list(itertools.combinations(range(task.m), task.s)), np.int32).reshape(-1, task.s)


# --------------------------------------------------------------------------------------- scoring


def exact_counts(params: dict, n_active: jax.Array, pairs_Kx2: jax.Array, task: BooleanTask,
                 emb_MxD: jax.Array | None, decision_threshold: float = 0.0, chunk: int = 2048) -> tuple[jax.Array, jax.Array]:
    """(fires_KxA, counts_KxA): over every input, how many of each class there are and fire.

    Inputs are enumerated in chunks (``lax.map``), so memory is O(chunk·(N + K)) per member; the
    hidden pre-activation of an input is the sum of its s active rows of W (no dense x @ W).
    """
    idx_TxS = all_inputs(task)
    t = idx_TxS.shape[0]
    n_chunks = -(-t // chunk)
    pad = n_chunks * chunk - t
    # padded inputs repeat the first one and carry weight 0
    idx_CxTcxS = jnp.asarray(np.concatenate([idx_TxS, np.repeat(idx_TxS[:1], pad, 0)]).reshape(n_chunks, chunk, task.s))
    live_CxTc = jnp.asarray((np.arange(n_chunks * chunk) < t).astype(np.float32).reshape(n_chunks, chunk))
    w_MxN = params["w_in_DxN"] if emb_MxD is None else emb_MxD @ params["w_in_DxN"]
    mask_N = width_mask(w_MxN.shape[1], n_active)
    a_K, b_K = pairs_Kx2[:, 0], pairs_Kx2[:, 1]

    def one_chunk(args):
        idx_TcxS, live_Tc = args
        h_TcxN = jax.nn.relu(w_MxN[idx_TcxS].sum(axis=1) + params["b_in_N"]) * mask_N
        out_TcxK = h_TcxN @ params["w_out_NxK"] + params["b_out_K"]
        fires_TcxK = (out_TcxK > decision_threshold).astype(jnp.float32)
        xa_TcxK = (idx_TcxS[:, :, None] == a_K).any(axis=1).astype(jnp.float32)
        xb_TcxK = (idx_TcxS[:, :, None] == b_K).any(axis=1).astype(jnp.float32)
        # one-hot of the class index 2·x_a + x_b, masked to live inputs: (Tc, K, A)
        cls_TcxKxA = jax.nn.one_hot((2 * xa_TcxK + xb_TcxK).astype(jnp.int32), 4) * live_Tc[:, None, None]
        return (fires_TcxK[..., None] * cls_TcxKxA).sum(0), cls_TcxKxA.sum(0)

    fires_CxKxA, counts_CxKxA = jax.lax.map(one_chunk, (idx_CxTcxS, live_CxTc))
    return fires_CxKxA.sum(0), counts_CxKxA.sum(0)


def sampled_rates(params: dict, n_active: jax.Array, pairs_Kx2: jax.Array, task: BooleanTask,
                  emb_MxD: jax.Array | None, key: jax.Array, samples: int, decision_threshold: float = 0.0,
                  feature_block: int = 64) -> tuple[jax.Array, jax.Array]:
    """(fire rate per class (K, A), class probability (K, A)) estimated on ``samples`` inputs per class.

    Forcing a feature's inputs changes two entries of the input, so the hidden pre-activations of
    all (feature, class) variants are a shared background pass plus a rank-2 update: evaluation
    costs O(S·N·(m + m')) rather than O(S·m'·N·m). With exactly-s inputs the background keeps s - c
    other active features when c of the feature's own inputs are forced on, and background
    samples holding the feature's own inputs are left out of that feature's rates, so every sample
    is drawn from the input distribution conditioned on the class.
    """
    vals_Ax2 = jnp.asarray(CLASSES_Ax2)
    w_MxN = params["w_in_DxN"] if emb_MxD is None else emb_MxD @ params["w_in_DxN"]
    mask_N = width_mask(w_MxN.shape[1], n_active)
    n_on_A = vals_Ax2.sum(axis=1).astype(jnp.int32)
    x_CxSxM = jnp.stack([background(jax.random.fold_in(key, c), task, samples, c) for c in range(3)])
    z_CxSxN = x_CxSxM @ w_MxN + params["b_in_N"]
    x_SxAxM = jnp.moveaxis(x_CxSxM[n_on_A], 0, 1)
    z_SxAxN = jnp.moveaxis(z_CxSxN[n_on_A], 0, 1)
    distinct_K = (pairs_Kx2[:, 0] != pairs_Kx2[:, 1]).astype(jnp.float32)

    def one_feature(args):
        (a, b), distinct, w_out_N, b_out = args
        # perm (a = b): the classes "only a" / "only b" do not exist; force b like a
        vb_A = jnp.where(distinct > 0, vals_Ax2[:, 1], vals_Ax2[:, 0])
        da_SxA = vals_Ax2[None, :, 0] - x_SxAxM[:, :, a]
        db_SxA = (vb_A[None, :] - x_SxAxM[:, :, b]) * distinct
        z = z_SxAxN + da_SxA[..., None] * w_MxN[a] + db_SxA[..., None] * w_MxN[b]
        out_SxA = (jax.nn.relu(z) * mask_N) @ w_out_N + b_out
        valid_SxA = (1.0 - x_SxAxM[:, :, a]) * (1.0 - x_SxAxM[:, :, b])
        fires_A = ((out_SxA > decision_threshold).astype(jnp.float32) * valid_SxA).sum(0) / jnp.maximum(valid_SxA.sum(0), 1.0)
        exists_A = jnp.where(distinct > 0, 1.0, (vals_Ax2[:, 0] == vals_Ax2[:, 1]).astype(jnp.float32))
        return fires_A, exists_A

    fire_KxA, exists_KxA = jax.lax.map(
        one_feature,
        ((pairs_Kx2[:, 0], pairs_Kx2[:, 1]), distinct_K, params["w_out_NxK"].T, params["b_out_K"]),
        batch_size=min(feature_block, pairs_Kx2.shape[0]),
    )
    probs_A = jnp.asarray(class_probs(task, distinct=True))
    probs1_A = jnp.asarray(class_probs(task, distinct=False))
    prob_KxA = jnp.where(distinct_K[:, None] > 0, probs_A, probs1_A) * exists_KxA
    return fire_KxA, prob_KxA


def class_probs(task: BooleanTask, distinct: bool = True) -> np.ndarray:
    """P(class) of a feature's own inputs under the input distribution, in CLASSES_Ax2 order.

    ``distinct=False`` is a one-input feature (perm): only "neither" and "both" (= the input on) occur.
    """
    m, q = task.m, task.density
    if not distinct:
        on = task.s / m if task.s is not None else q
        return np.array([1 - on, 0.0, 0.0, on])
    if task.s is not None:
        s, pairs = task.s, m * (m - 1)
        one = s * (m - s) / pairs
        return np.array([(m - s) * (m - s - 1) / pairs, one, one, s * (s - 1) / pairs])
    return np.array([(1 - q) ** 2, q * (1 - q), q * (1 - q), q * q])


def feature_scores(params: dict, n_active: jax.Array, pairs_Kx2: jax.Array, task: BooleanTask,
                   emb_MxD: jax.Array | None, key: jax.Array, criterion: Criterion,
                   decision_threshold: float = 0.0) -> dict:
    """Per-feature scores of a MaskedMLP parameter dict (outputs above the threshold count as 1).

    Returns ``fnr`` (K,), ``fpr`` (K, A) per class (0 on positive and absent classes), ``fpr_max``
    (K,), ``precision`` (K,): exact when ``scored_exactly(task, criterion)``, else sampled.
    """
    if scored_exactly(task, criterion):
        fires_KxA, counts_KxA = exact_counts(params, n_active, pairs_Kx2, task, emb_MxD, decision_threshold)
        fire_KxA, weight_KxA = fires_KxA / jnp.maximum(counts_KxA, 1.0), counts_KxA
    else:
        fire_KxA, weight_KxA = sampled_rates(
            params, n_active, pairs_Kx2, task, emb_MxD, key, criterion.samples, decision_threshold
        )
    return rates(fire_KxA, weight_KxA, task.op)


def rates(fire_KxA: jax.Array, weight_KxA: jax.Array, op: str) -> dict:
    """Scores from each class's fire rate and weight (count or probability), shapes (K, A).

    A class of weight 0 does not occur and counts nowhere.
    """
    positive_A = jnp.asarray(apply_op(op, CLASSES_Ax2[:, 0], CLASSES_Ax2[:, 1]) > 0.5, jnp.float32)
    exists_KxA = (weight_KxA > 0).astype(jnp.float32)
    pos_w_KxA = weight_KxA * positive_A
    hits_K = (fire_KxA * pos_w_KxA).sum(-1)
    false_K = (fire_KxA * weight_KxA * (1.0 - positive_A)).sum(-1)
    fnr_K = 1.0 - hits_K / jnp.maximum(pos_w_KxA.sum(-1), 1e-30)
    fpr_KxA = fire_KxA * (1.0 - positive_A) * exists_KxA
    fired_K = hits_K + false_K
    precision_K = jnp.where(fired_K > 0, hits_K / jnp.where(fired_K > 0, fired_K, 1.0), 0.0)
    return {"fnr": fnr_K, "fpr": fpr_KxA, "fpr_max": fpr_KxA.max(-1), "precision": precision_K}


def computed(scores: dict, epsilon: float) -> jax.Array:
    """Which features are computed (bool (K,)): fnr <= ε, every false-positive rate <= ε, precision >= 1 - ε."""
    tol = 1e-9
    return (scores["fnr"] <= epsilon + tol) & (scores["fpr_max"] <= epsilon + tol) & (scores["precision"] >= 1.0 - epsilon - tol)


def success(scores: dict, k_active: jax.Array, criterion: Criterion) -> dict:
    """Summary over the first ``k_active`` features: worst rates, features computed, success flag."""
    active_K = jnp.arange(scores["fnr"].shape[0]) < k_active
    ok_K = computed(scores, criterion.epsilon) & active_K
    n_ok = ok_K.sum().astype(jnp.float32)
    frac_ok = n_ok / jnp.maximum(k_active, 1).astype(jnp.float32)
    return {
        "fnr_max": jnp.where(active_K, scores["fnr"], 0.0).max(),
        "fpr_max": jnp.where(active_K, scores["fpr_max"], 0.0).max(),
        "precision_min": jnp.where(active_K, scores["precision"], 1.0).min(),
        "n_ok": n_ok,
        "frac_ok": frac_ok,
        "success": frac_ok >= criterion.fraction - 1e-9,
    }


def feature_error_rates(params: dict, n_active: jax.Array, pairs_Kx2: jax.Array, task: BooleanTask,
                        emb_MxD: jax.Array | None, key: jax.Array, samples: int,
                        decision_threshold: float = 0.0) -> tuple[jax.Array, jax.Array]:
    """Sampled (fnr (K,), largest per-class false-positive rate (K,)) on ``samples`` inputs per class."""
    fire_KxA, prob_KxA = sampled_rates(params, n_active, pairs_Kx2, task, emb_MxD, key, samples, decision_threshold)
    out = rates(fire_KxA, prob_KxA, task.op)
    return out["fnr"], out["fpr_max"]


def background(key: jax.Array, task: BooleanTask, samples: int, n_forced: int) -> jax.Array:
    """Inputs around a feature whose own inputs hold ``n_forced`` ones, shape (samples, m)
    (``task.background_task``; samples that hold the feature's own inputs are excluded by
    ``sampled_rates``)."""
    rest = background_task(task, n_forced)
    return jnp.zeros((samples, task.m)) if rest is None else sample_inputs(key, rest, samples)
