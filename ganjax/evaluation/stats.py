"""Sample-quality statistics on extracted features, computed in JAX.

Features are the penultimate-layer activations of a classifier (d ~ 64..2048)
applied to real and generated images batch by batch. Two memory regimes:

* FID needs only first and second moments, accumulated in a streaming way with
  :class:`Moments` (O(d^2) memory whatever the number of samples, e.g. 50,000).
* KID and the k-NN metrics (precision/recall, density/coverage) need the
  features themselves. Callers store a bounded subset, by convention the first
  :data:`DEFAULT_MAX_STORED_FEATURES` (10,000) of each set: generated samples are
  i.i.d. and the real pipeline is shuffled, so the first N are a uniform random
  subset. The k-NN metrics hold at most ``batch_size x n`` pairwise distances
  at a time, never the full ``n x n`` matrix.

The Inception-Score-style :func:`classifier_score` and :func:`class_histogram_stats`
work on classifier outputs instead of features; the score has its own streaming
accumulator (:class:`ClassifierScoreStats`).

All matrix products use ``Precision.HIGHEST``: on TPU/GPU the default would
run them in bfloat16/TF32, which ruins covariances and distances.
"""

from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

# How many features per set the k-NN metrics and KID are meant to be given.
DEFAULT_MAX_STORED_FEATURES = 10_000

_HIGHEST = jax.lax.Precision.HIGHEST


def _matmul(a: jax.Array, b: jax.Array) -> jax.Array:
  return jnp.matmul(a, b, precision=_HIGHEST)


# ----------------------------------------------------------------------------
# Streaming moments (FID).
# ----------------------------------------------------------------------------


@flax.struct.dataclass
class Moments:
  """Running first and second moments of a stream of feature vectors.

  A pytree, so it can live on device, be carried through ``jax.lax.scan`` and
  be passed to jitted functions.

  Attributes:
    count: Number of vectors seen, int32 scalar.
    mean: Running mean, shape (d,).
    m2: Sum of outer products of deviations from ``mean``, shape (d, d).
  """

  count: jax.Array
  mean: jax.Array
  m2: jax.Array


def moments_init(dim: int, dtype: jnp.dtype = jnp.float32) -> Moments:
  """Returns empty moments for ``dim``-dimensional features.

  Args:
    dim: Feature dimension d.
    dtype: Floating dtype of ``mean`` and ``m2``.

  Returns:
    Moments with ``count == 0``.
  """
  return Moments(count=jnp.zeros((), jnp.int32),
                 mean=jnp.zeros((dim,), dtype),
                 m2=jnp.zeros((dim, dim), dtype))


def _batch_moments(features: jax.Array) -> Moments:
  """Exact moments of one batch, centred so a large common offset is harmless."""
  mean = jnp.mean(features, axis=0)
  centred = features - mean
  # Second pass: the float32 mean of values ~1e3 is off by O(ulp * B); the mean
  # of the residuals recovers that error (classic corrected two-pass algorithm).
  correction = jnp.mean(centred, axis=0)
  mean = mean + correction
  centred = centred - correction
  return Moments(count=jnp.asarray(features.shape[0], jnp.int32),
                 mean=mean,
                 m2=_matmul(centred.T, centred))


@jax.jit
def moments_merge(a: Moments, b: Moments) -> Moments:
  """Combines the moments of two disjoint sets (Chan et al. pairwise update).

  Only deviations between means enter, never raw second moments, so the
  merge stays accurate in float32 when features have a large mean. Also the
  way to combine per-device moments gathered across hosts.

  Args:
    a: Moments of the first set (may be empty).
    b: Moments of the second set (may be empty).

  Returns:
    Moments of the union.
  """
  count = a.count + b.count
  # max(., 1) keeps an empty + empty merge finite (it returns zeros).
  n = jnp.maximum(count, 1).astype(a.mean.dtype)
  n_a = a.count.astype(a.mean.dtype)
  n_b = b.count.astype(a.mean.dtype)
  delta = b.mean - a.mean
  mean = a.mean + delta * (n_b / n)
  m2 = a.m2 + b.m2 + jnp.outer(delta, delta) * (n_a * n_b / n)
  return Moments(count=count, mean=mean, m2=m2)


@jax.jit
def moments_update(m: Moments, features: jax.Array) -> Moments:
  """Adds a batch of feature vectors to running moments.

  Args:
    m: Current moments.
    features: Batch of shape (B, d) with B >= 1; cast to the dtype of ``m``.

  Returns:
    Moments including the batch.
  """
  batch = _batch_moments(features.astype(m.mean.dtype))
  return moments_merge(m, batch)


def moments_finalize(m: Moments) -> tuple[jax.Array, jax.Array]:
  """Returns the mean and the unbiased (ddof=1) covariance.

  Args:
    m: Moments of at least 2 vectors (otherwise the covariance is NaN/inf).

  Returns:
    ``(mean, cov)`` of shapes (d,) and (d, d).
  """
  cov = m.m2 / (m.count - 1).astype(m.m2.dtype)
  # Accumulated rounding can leave cov a few ulps from symmetric.
  return m.mean, 0.5 * (cov + cov.T)


# ----------------------------------------------------------------------------
# Frechet distance.
# ----------------------------------------------------------------------------


def _psd_sqrt(a: jax.Array) -> jax.Array:
  """Symmetric square root of a symmetric PSD matrix via eigh."""
  w, v = jnp.linalg.eigh(a)
  # Negative eigenvalues of a PSD matrix are round-off; sqrt would make NaNs.
  return (v * jnp.sqrt(jnp.maximum(w, 0.0))) @ v.T


@jax.jit
def _frechet_distance_impl(mu1: jax.Array, sigma1: jax.Array, mu2: jax.Array,
                           sigma2: jax.Array, eps: jax.Array) -> jax.Array:
  identity = jnp.eye(sigma1.shape[0], dtype=sigma1.dtype)
  sigma1 = 0.5 * (sigma1 + sigma1.T) + eps * identity
  sigma2 = 0.5 * (sigma2 + sigma2.T) + eps * identity
  # tr sqrtm(s1 s2) == tr sqrtm(s1^1/2 s2 s1^1/2): same eigenvalues, but the
  # latter is symmetric PSD, so eigh applies and no complex parts appear.
  root1 = _psd_sqrt(sigma1)
  inner = root1 @ sigma2 @ root1
  eigenvalues = jnp.linalg.eigvalsh(0.5 * (inner + inner.T))
  trace_covmean = jnp.sum(jnp.sqrt(jnp.maximum(eigenvalues, 0.0)))
  diff = mu1 - mu2
  distance = diff @ diff + jnp.trace(sigma1) + jnp.trace(sigma2) - 2.0 * trace_covmean
  # The true value is >= 0; only round-off can take it below.
  return jnp.maximum(distance, 0.0)


def frechet_distance(mu1: jax.Array, sigma1: jax.Array, mu2: jax.Array,
                     sigma2: jax.Array, eps: float = 1e-6) -> float:
  """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

  ``|mu1 - mu2|^2 + tr(s1) + tr(s2) - 2 tr sqrtm(s1 s2)``, with the trace of the
  matrix square root taken as ``tr sqrtm(s1^1/2 s2 s1^1/2)`` through two
  symmetric eigendecompositions (negative round-off eigenvalues clipped to 0).
  Unlike ``scipy.linalg.sqrtm(s1 @ s2)`` this never produces complex or
  non-finite values, including for rank-deficient covariances (n < d).

  ``eps * I`` is added to both covariances, always: the result is then the
  exact Frechet distance between the regularised Gaussians, continuous in the
  inputs and >= 0 (a regulariser applied only to "singular" inputs would jump
  at the singularity threshold). Equal regularisation of both sides barely
  moves the distance: for commuting covariances it shrinks by about
  ``eps * sum_i (sqrt(a_i) - sqrt(b_i))^2 / sqrt(a_i b_i)`` over eigenvalue
  pairs, zero for equal spectra (6e-7 relative in the d=64 test). For
  rank-deficient covariances (n <= d) the result equals pytorch-fid's ``eps``
  fallback plus ``2 d eps`` (pytorch-fid offsets only the square-root term,
  which can make its value negative). ``eps=0`` gives the unregularised value.

  Precision: computed in float64 with JAX, by converting the inputs to NumPy
  float64 and running under the thread-local ``jax.enable_x64`` context
  (top-level in jax 0.10; ``jax.experimental.enable_x64`` no longer exists).
  float64 matters because the result is a difference of traces that can be
  orders of magnitude larger than the distance itself. Not jittable for that
  reason; it runs once per evaluation and costs two d x d eigendecompositions.

  Args:
    mu1: Mean of the first set, shape (d,).
    sigma1: Covariance of the first set, shape (d, d), symmetric PSD.
    mu2: Mean of the second set, shape (d,).
    sigma2: Covariance of the second set, shape (d, d), symmetric PSD.
    eps: Diagonal regulariser added to both covariances, in feature units^2.

  Returns:
    The Frechet distance as a Python float.
  """
  arrays = [np.asarray(x, dtype=np.float64) for x in (mu1, sigma1, mu2, sigma2)]
  with jax.enable_x64(True):
    mu1_, sigma1_, mu2_, sigma2_ = (jnp.asarray(x, jnp.float64) for x in arrays)
    distance = _frechet_distance_impl(mu1_, sigma1_, mu2_, sigma2_,
                                      jnp.asarray(eps, jnp.float64))
    return float(distance)


def fid_from_features(real: Moments, fake: Moments) -> float:
  """FID from streamed feature moments of real and generated samples.

  Args:
    real: Moments of real-image features.
    fake: Moments of generated-image features.

  Returns:
    ``frechet_distance`` of the two Gaussian fits (default ``eps``).
  """
  mu_real, sigma_real = moments_finalize(real)
  mu_fake, sigma_fake = moments_finalize(fake)
  return frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake)


# ----------------------------------------------------------------------------
# Kernel Inception Distance.
# ----------------------------------------------------------------------------


def _polynomial_kernel(x: jax.Array, y: jax.Array) -> jax.Array:
  """k(x, y) = (x.y / d + 1)^3, the KID kernel (Binkowski et al., 2018)."""
  return (_matmul(x, y.T) / x.shape[-1] + 1.0)**3


def _total(k: jax.Array) -> jax.Array:
  # Rows first, then the row sums: float32 error grows with m, not m^2, which
  # matters because MMD^2 is a small difference of large kernel sums.
  return jnp.sum(jnp.sum(k, axis=1))


def polynomial_mmd2(x: jax.Array, y: jax.Array) -> jax.Array:
  """Unbiased MMD^2 estimate with the cubic polynomial kernel.

  Args:
    x: Samples of shape (m, d), m >= 2.
    y: Samples of shape (n, d), n >= 2.

  Returns:
    Scalar U-statistic estimate of MMD^2 (can be slightly negative).
  """
  m, n = x.shape[0], y.shape[0]
  k_xx = _polynomial_kernel(x, x)
  k_yy = _polynomial_kernel(y, y)
  k_xy = _polynomial_kernel(x, y)
  # Diagonal terms k(x_i, x_i) are excluded: that is what makes it unbiased.
  xx = (_total(k_xx) - jnp.trace(k_xx)) / (m * (m - 1))
  yy = (_total(k_yy) - jnp.trace(k_yy)) / (n * (n - 1))
  return xx + yy - 2.0 * _total(k_xy) / (m * n)


@jax.jit(static_argnames=("n_real", "n_fake", "num_subsets", "subset_size"))
def _kid_subset_indices(key: jax.Array, n_real: int, n_fake: int,
                        num_subsets: int,
                        subset_size: int) -> tuple[jax.Array, jax.Array]:
  """Indices (num_subsets, subset_size) of the real and fake subsets.

  Each subset is drawn without replacement; different subsets are independent.
  """
  key_real, key_fake = jax.random.split(key)

  def draw(k: jax.Array, n: int) -> jax.Array:
    # The positions of the top m of n i.i.d. uniforms are a uniformly random
    # m-subset: one top_k, much cheaper to compile than vmapped random.choice.
    _, indices = jax.lax.top_k(jax.random.uniform(k, (num_subsets, n)), subset_size)
    return indices

  return draw(key_real, n_real), draw(key_fake, n_fake)


def _kid_impl(real: jax.Array, fake: jax.Array, key: jax.Array, num_subsets: int,
              subset_size: int) -> jax.Array:
  idx_real, idx_fake = _kid_subset_indices(key, real.shape[0], fake.shape[0],
                                           num_subsets, subset_size)
  # lax.map, not vmap: one subset's three m x m kernels in memory at a time.
  return jax.lax.map(lambda ij: polynomial_mmd2(real[ij[0]], fake[ij[1]]),
                     (idx_real, idx_fake))


_kid_jit = jax.jit(_kid_impl, static_argnames=("num_subsets", "subset_size"))


def kid(real_feats: jax.Array,
        fake_feats: jax.Array,
        num_subsets: int = 100,
        subset_size: int = 1000,
        *,
        key: jax.Array | None = None) -> tuple[float, float]:
  """Kernel Inception Distance: unbiased MMD^2 averaged over random subsets.

  Follows Binkowski et al. (2018): each of ``num_subsets`` subsets draws
  ``subset_size`` real and fake features without replacement. The standard
  error is the standard deviation over subsets divided by sqrt(num_subsets);
  subsets overlap, so it describes subset-to-subset spread (as in the
  reference code) rather than a rigorous confidence interval.

  Args:
    real_feats: Real features, shape (n_real, d); a bounded stored subset.
    fake_feats: Generated features, shape (n_fake, d).
    num_subsets: Number of subsets.
    subset_size: Samples per subset, clipped to ``min(n_real, n_fake)``.
    key: PRNG key for the subsets; ``None`` means ``PRNGKey(0)`` (reproducible).

  Returns:
    ``(mean, standard_error)``; the error is NaN when ``num_subsets == 1``.
  """
  real = jnp.asarray(real_feats, jnp.float32)
  fake = jnp.asarray(fake_feats, jnp.float32)
  size = min(subset_size, real.shape[0], fake.shape[0])
  if size < 2:
    raise ValueError(f"KID needs at least 2 samples per set, got {size}.")
  key = jax.random.PRNGKey(0) if key is None else key
  values = np.asarray(_kid_jit(real, fake, key, num_subsets, size), np.float64)
  if num_subsets < 2:
    return float(values.mean()), float("nan")
  return float(values.mean()), float(values.std(ddof=1) / np.sqrt(num_subsets))


# ----------------------------------------------------------------------------
# k-NN manifold metrics (precision/recall, density/coverage).
# ----------------------------------------------------------------------------


def _squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
  """Pairwise squared Euclidean distances, shape (len(a), len(b))."""
  sq = (jnp.sum(a * a, axis=1)[:, None] + jnp.sum(b * b, axis=1)[None, :]
        - 2.0 * _matmul(a, b.T))
  # The expansion can dip below 0 by round-off for (near-)coincident points.
  return jnp.maximum(sq, 0.0)


def _map_blocks(fn: Callable[[jax.Array], jax.Array], queries: jax.Array,
                batch_size: int) -> jax.Array:
  """Applies ``fn`` to row blocks of ``queries`` sequentially, bounding memory.

  ``fn`` maps a (b, d) block to per-row results of shape (b, ...). Rows are
  zero-padded to a multiple of the block size; padded results are dropped.
  """
  n = queries.shape[0]
  block = min(batch_size, n)
  num_blocks = -(-n // block)
  padded = jnp.pad(queries, ((0, num_blocks * block - n), (0, 0)))
  out = jax.lax.map(fn, padded.reshape(num_blocks, block, -1))
  return out.reshape((num_blocks * block,) + out.shape[2:])[:n]


def _knn_sq_radii(feats: jax.Array, k: int, batch_size: int) -> jax.Array:
  """Squared distance from each point to its k-th nearest neighbour in the set.

  The point itself counts as its 0-th neighbour (distance 0), the convention
  of the reference implementations (NVIDIA's improved-precision-recall, prdc).
  """

  def block_radii(block: jax.Array) -> jax.Array:
    neg_smallest, _ = jax.lax.top_k(-_squared_distances(block, feats), k + 1)
    # Without the barrier XLA:CPU fuses the column slice into top_k and lowers
    # it as a full sort of every row: ~10x slower for 10,000 points.
    neg_smallest = jax.lax.optimization_barrier(neg_smallest)
    return -neg_smallest[:, k]

  return _map_blocks(block_radii, feats, batch_size)


def _check_k(k: int, *sets: jax.Array) -> None:
  for s in sets:
    if not 1 <= k < s.shape[0]:
      raise ValueError(f"Need 1 <= k < number of samples ({s.shape[0]}), got k={k}.")


def _centre(real: jax.Array, fake: jax.Array) -> tuple[jax.Array, jax.Array]:
  # Distances are translation invariant; centring removes a large common
  # offset that would otherwise cancel catastrophically in |a|^2 + |b|^2 - 2ab.
  shift = jnp.mean(real, axis=0)
  return real - shift, fake - shift


def _fraction_in_manifold(queries: jax.Array, support: jax.Array,
                          support_sq_radii: jax.Array, batch_size: int) -> jax.Array:
  """Fraction of queries inside at least one k-NN ball around support points."""

  def block_inside(block: jax.Array) -> jax.Array:
    return jnp.any(_squared_distances(block, support) <= support_sq_radii[None, :],
                   axis=1)

  return jnp.mean(_map_blocks(block_inside, queries, batch_size))


def _precision_recall_impl(real: jax.Array, fake: jax.Array, k: int,
                           batch_size: int) -> tuple[jax.Array, jax.Array]:
  real, fake = _centre(real, fake)
  real_radii = _knn_sq_radii(real, k, batch_size)
  fake_radii = _knn_sq_radii(fake, k, batch_size)
  precision = _fraction_in_manifold(fake, real, real_radii, batch_size)
  recall = _fraction_in_manifold(real, fake, fake_radii, batch_size)
  return precision, recall


_precision_recall_jit = jax.jit(_precision_recall_impl,
                                static_argnames=("k", "batch_size"))


def precision_recall(real_feats: jax.Array,
                     fake_feats: jax.Array,
                     k: int = 3,
                     batch_size: int = 1000) -> tuple[float, float]:
  """Improved precision and recall (Kynkaanniemi et al., 2019).

  Each set's manifold is the union of balls around its points with radius the
  distance to the point's k-th nearest neighbour in the same set. Precision
  is the fraction of fakes inside the real manifold, recall the fraction of
  reals inside the fake manifold (closed balls).

  Memory: pairwise distances are formed ``batch_size`` query rows at a time,
  so peak memory is O(batch_size * n), not O(n^2); pass a bounded subset
  (e.g. :data:`DEFAULT_MAX_STORED_FEATURES`) of each set.

  Args:
    real_feats: Real features, shape (n_real, d).
    fake_feats: Generated features, shape (n_fake, d).
    k: Neighbourhood size, 1 <= k < min(n_real, n_fake).
    batch_size: Query rows per distance block.

  Returns:
    ``(precision, recall)`` in [0, 1].
  """
  real = jnp.asarray(real_feats, jnp.float32)
  fake = jnp.asarray(fake_feats, jnp.float32)
  _check_k(k, real, fake)
  precision, recall = _precision_recall_jit(real, fake, k, batch_size)
  return float(precision), float(recall)


def _density_coverage_impl(real: jax.Array, fake: jax.Array, k: int,
                           batch_size: int) -> tuple[jax.Array, jax.Array]:
  real, fake = _centre(real, fake)
  real_radii = _knn_sq_radii(real, k, batch_size)

  def balls_containing(block: jax.Array) -> jax.Array:
    # Per fake: number of real k-NN balls it falls in.
    return jnp.sum(_squared_distances(block, real) <= real_radii[None, :], axis=1)

  def nearest_fake(block: jax.Array) -> jax.Array:
    return jnp.min(_squared_distances(block, fake), axis=1)

  density = jnp.mean(_map_blocks(balls_containing, fake, batch_size)) / k
  coverage = jnp.mean(_map_blocks(nearest_fake, real, batch_size) <= real_radii)
  return density, coverage


_density_coverage_jit = jax.jit(_density_coverage_impl,
                                static_argnames=("k", "batch_size"))


def density_coverage(real_feats: jax.Array,
                     fake_feats: jax.Array,
                     k: int = 5,
                     batch_size: int = 1000) -> tuple[float, float]:
  """Density and coverage (Naeem et al., 2020).

  With real k-NN balls B(x_i, r_k(x_i)) (as in :func:`precision_recall`):
  density = mean over fakes of (number of real balls containing it) / k, which
  is ~1 for matching distributions and unbounded above; coverage = fraction of
  real points whose ball contains at least one fake. Memory as in
  :func:`precision_recall`.

  Args:
    real_feats: Real features, shape (n_real, d).
    fake_feats: Generated features, shape (n_fake, d).
    k: Neighbourhood size, 1 <= k < n_real.
    batch_size: Query rows per distance block.

  Returns:
    ``(density, coverage)``.
  """
  real = jnp.asarray(real_feats, jnp.float32)
  fake = jnp.asarray(fake_feats, jnp.float32)
  _check_k(k, real)
  density, coverage = _density_coverage_jit(real, fake, k, batch_size)
  return float(density), float(coverage)


# ----------------------------------------------------------------------------
# Classifier-output statistics.
# ----------------------------------------------------------------------------


@flax.struct.dataclass
class ClassifierScoreStats:
  """Streaming sufficient statistics for :func:`classifier_score`.

  Attributes:
    count: Number of samples seen, int32 scalar.
    sum_probs: Sum over samples of p(y|x), shape (C,).
    sum_neg_entropy: Sum over samples of sum_y p(y|x) log p(y|x), scalar.
  """

  count: jax.Array
  sum_probs: jax.Array
  sum_neg_entropy: jax.Array


def classifier_score_init(num_classes: int) -> ClassifierScoreStats:
  """Returns empty classifier-score statistics for ``num_classes`` classes."""
  return ClassifierScoreStats(count=jnp.zeros((), jnp.int32),
                              sum_probs=jnp.zeros((num_classes,), jnp.float32),
                              sum_neg_entropy=jnp.zeros((), jnp.float32))


def _probs_and_log_probs(outputs: jax.Array,
                         from_logits: bool) -> tuple[jax.Array, jax.Array]:
  outputs = outputs.astype(jnp.float32)
  if from_logits:
    log_probs = jax.nn.log_softmax(outputs, axis=-1)
    return jnp.exp(log_probs), log_probs
  # Zero probabilities contribute 0 log 0 = 0; guard the log so no NaN appears.
  safe_log = jnp.log(jnp.where(outputs > 0, outputs, 1.0))
  return outputs, safe_log


@jax.jit(static_argnames=("from_logits",))
def classifier_score_update(stats: ClassifierScoreStats,
                            outputs: jax.Array,
                            from_logits: bool = False) -> ClassifierScoreStats:
  """Adds a batch of classifier outputs to the statistics.

  Args:
    stats: Current statistics.
    outputs: (B, C) probabilities p(y|x) (rows summing to 1) or logits.
    from_logits: Whether ``outputs`` are logits (softmax applied here, stably).

  Returns:
    Updated statistics.
  """
  probs, log_probs = _probs_and_log_probs(outputs, from_logits)
  return ClassifierScoreStats(
      count=stats.count + outputs.shape[0],
      sum_probs=stats.sum_probs + jnp.sum(probs, axis=0),
      sum_neg_entropy=stats.sum_neg_entropy + jnp.sum(probs * log_probs))


def classifier_score_finalize(stats: ClassifierScoreStats) -> float:
  """exp(E_x KL(p(y|x) || p(y))) from accumulated statistics.

  Uses E_x KL = E_x[sum_y p log p] - sum_y p(y) log p(y) with the marginal
  p(y) = mean_x p(y|x), so only sums need streaming.

  Args:
    stats: Statistics of at least one sample.

  Returns:
    The score, in [1, C].
  """
  count = float(stats.count)
  marginal = np.asarray(stats.sum_probs, np.float64) / count
  marginal_neg_entropy = np.sum(marginal[marginal > 0] * np.log(marginal[marginal > 0]))
  mean_kl = float(stats.sum_neg_entropy) / count - marginal_neg_entropy
  return float(np.exp(mean_kl))


def classifier_score(outputs: jax.Array, from_logits: bool = False) -> float:
  """Inception-Score-style exp(E_x KL(p(y|x) || p(y))) of one array of outputs.

  This is the single-split score (the classic Inception Score averages over
  10 splits). For many samples use :func:`classifier_score_init`,
  :func:`classifier_score_update` and :func:`classifier_score_finalize`.

  Args:
    outputs: (N, C) probabilities or logits.
    from_logits: Whether ``outputs`` are logits.

  Returns:
    The score: C for confident, uniformly spread predictions, 1 for collapse.
  """
  stats = classifier_score_init(outputs.shape[-1])
  return classifier_score_finalize(classifier_score_update(stats, outputs, from_logits))


def _normalised(counts: np.ndarray, smoothing: float) -> np.ndarray:
  p = counts / counts.sum()
  return (p + smoothing) / (1.0 + smoothing * p.size)


def class_histogram_stats(pred_labels: jax.Array | np.ndarray,
                          num_classes: int,
                          real_class_freq: jax.Array | np.ndarray | None = None,
                          coverage_fraction: float = 0.1,
                          smoothing: float = 1e-6) -> dict:
  """Mode-coverage statistics of predicted classes of generated samples.

  A class counts as covered when it receives at least
  ``max(1, coverage_fraction * N / num_classes)`` predictions, i.e. by default
  10% of its expected count under a uniform class distribution: a single stray
  prediction is classifier noise, not a mode the generator produces.

  ``class_kl`` is KL(generated || real) between class histograms, each
  normalised and mixed as ``(p + smoothing) / (1 + C * smoothing)`` so that it
  stays finite when the real histogram has empty classes. With few samples it
  is biased upwards by roughly (C - 1) / (2N) nats.

  Args:
    pred_labels: Integer predicted labels of generated samples, shape (N,).
    num_classes: Number of classes C.
    real_class_freq: Real class counts or frequencies, shape (C,); ``None``
      means uniform.
    coverage_fraction: Coverage threshold as a fraction of the uniform count.
    smoothing: Additive probability smoothing for the KL.

  Returns:
    ``{"classes_covered": int, "class_kl": float, "histogram": list[int],
    "coverage_threshold": float}``.
  """
  labels = np.asarray(pred_labels).reshape(-1)
  if labels.size == 0 or labels.min() < 0 or labels.max() >= num_classes:
    raise ValueError(f"Labels must be non-empty and in [0, {num_classes}).")
  histogram = np.bincount(labels, minlength=num_classes)
  threshold = max(1.0, coverage_fraction * labels.size / num_classes)
  real = (np.ones(num_classes) if real_class_freq is None
          else np.asarray(real_class_freq, np.float64))
  if real.shape != (num_classes,):
    raise ValueError(f"real_class_freq must have shape ({num_classes},).")
  p = _normalised(histogram.astype(np.float64), smoothing)
  q = _normalised(real, smoothing)
  return {
      "classes_covered": int(np.sum(histogram >= threshold)),
      "class_kl": float(np.sum(p * np.log(p / q))),
      "histogram": histogram.tolist(),
      "coverage_threshold": float(threshold),
  }
