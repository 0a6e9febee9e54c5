"""Tests for ganjax.evaluation.stats against independent NumPy/SciPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from ganjax.evaluation import stats

# ----------------------------------------------------------------------------
# Independent references (float64 NumPy/SciPy, written from the papers and
# pytorch-fid, sharing no code with the module under test).
# ----------------------------------------------------------------------------


def ref_fid(mu1, sigma1, mu2, sigma2, eps=1e-6, force_offset=False):
  """pytorch-fid's calculate_frechet_distance (scipy sqrtm of s1 @ s2)."""
  diff = mu1 - mu2
  covmean = None
  if not force_offset:
    # pytorch-fid passes disp=False, deprecated in SciPy 1.17; same matrix.
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
  if force_offset or not np.isfinite(covmean).all():
    offset = np.eye(sigma1.shape[0]) * eps
    covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  covmean = np.real(covmean)
  return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def ref_mmd2(x, y):
  """Unbiased MMD^2, kernel (x.y/d + 1)^3, written out term by term."""
  x, y = x.astype(np.float64), y.astype(np.float64)
  d = x.shape[1]
  kernel = lambda a, b: (a @ b.T / d + 1.0)**3
  m, n = len(x), len(y)
  k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
  np.fill_diagonal(k_xx, 0.0)
  np.fill_diagonal(k_yy, 0.0)
  return k_xx.sum() / (m * (m - 1)) + k_yy.sum() / (n * (n - 1)) - 2 * k_xy.mean()


def ref_radii(feats, k):
  """Distance to the k-th nearest neighbour, the point itself being the 0-th."""
  return np.sort(cdist(feats, feats), axis=1)[:, k]


def ref_precision_recall(real, fake, k):
  real_r, fake_r = ref_radii(real, k), ref_radii(fake, k)
  d = cdist(real, fake)  # (n_real, n_fake)
  precision = np.mean(np.any(d <= real_r[:, None], axis=0))
  recall = np.mean(np.any(d <= fake_r[None, :], axis=1))
  return precision, recall


def ref_density_coverage(real, fake, k):
  real_r = ref_radii(real, k)
  d = cdist(real, fake)
  density = np.sum(d <= real_r[:, None]) / (k * fake.shape[0])
  coverage = np.mean(d.min(axis=1) <= real_r)
  return density, coverage


def gaussian(seed, n, d, shift=0.0, scale=1.0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(n, d)) * scale + shift).astype(np.float32)


def rel_err(ours, ref):
  return np.max(np.abs(np.asarray(ours, np.float64) - ref)) / np.max(np.abs(ref))


def streamed(feats, splits):
  m = stats.moments_init(feats.shape[1])
  for batch in np.split(feats, splits):
    m = stats.moments_update(m, batch)
  return m


# ----------------------------------------------------------------------------
# Moments.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_streaming_moments_match_numpy(offset):
  feats = gaussian(0, 2000, 32, shift=offset, scale=np.linspace(0.1, 3.0, 32))
  # Uneven batches, including a single-sample batch.
  m = streamed(feats, [1, 257, 258, 1000, 1731])
  mean, cov = stats.moments_finalize(m)
  ref64 = feats.astype(np.float64)
  assert int(m.count) == 2000
  assert rel_err(mean, ref64.mean(axis=0)) < 1e-5
  assert rel_err(cov, np.cov(ref64, rowvar=False, ddof=1)) < 1e-5


def test_moments_merge_is_order_independent_and_jittable():
  feats = gaussian(1, 600, 8, shift=50.0)
  a = stats.moments_update(stats.moments_init(8), feats[:100])
  b = stats.moments_update(stats.moments_init(8), feats[100:])
  ab, ba = stats.moments_merge(a, b), stats.moments_merge(b, a)
  for x, y in zip(stats.moments_finalize(ab), stats.moments_finalize(ba)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)

  def scan_step(m, batch):
    return stats.moments_update(m, batch), None

  scanned, _ = jax.lax.scan(scan_step, stats.moments_init(8), feats.reshape(6, 100, 8))
  np.testing.assert_allclose(stats.moments_finalize(scanned)[1],
                             np.cov(feats.astype(np.float64), rowvar=False),
                             rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------
# FID.
# ----------------------------------------------------------------------------


def _mean_cov(feats):
  f = feats.astype(np.float64)
  return f.mean(axis=0), np.cov(f, rowvar=False)


def test_fid_matches_scipy_sqrtm_reference():
  real = gaussian(2, 2000, 64)
  fake = gaussian(3, 2000, 64, shift=0.3, scale=np.linspace(0.5, 1.5, 64))
  mu1, s1 = _mean_cov(real)
  mu2, s2 = _mean_cov(fake)
  ours = stats.frechet_distance(mu1, s1, mu2, s2)
  assert abs(ours - ref_fid(mu1, s1, mu2, s2)) / ref_fid(mu1, s1, mu2, s2) < 1e-4
  assert abs(stats.frechet_distance(mu2, s2, mu1, s1) - ours) < 1e-9 * ours
  # Through the streaming path with float32 features end to end.
  streamed_fid = stats.fid_from_features(streamed(real, [700]), streamed(fake, [123]))
  assert abs(streamed_fid - ours) / ours < 1e-4


def test_fid_rank_deficient_covariances():
  # n < d: both covariances have rank n - 1 = 49 out of 128.
  real = gaussian(4, 50, 128)
  fake = gaussian(5, 50, 128, shift=0.2)
  mu1, s1 = _mean_cov(real)
  mu2, s2 = _mean_cov(fake)
  ref = ref_fid(mu1, s1, mu2, s2, eps=1e-6, force_offset=True)
  ours = stats.frechet_distance(mu1, s1, mu2, s2, eps=1e-6)
  exact = stats.frechet_distance(mu1, s1, mu2, s2, eps=0.0)
  assert np.isfinite(ours) and ours >= 0 and np.isfinite(exact) and exact >= 0
  # pytorch-fid offsets only the sqrtm term: the two differ by 2 d eps exactly.
  assert abs(ours - (ref + 2 * 128 * 1e-6)) / ref < 1e-6
  # Regularisation moves the rank-deficient value only slightly.
  assert abs(exact - ours) / exact < 1e-2


def test_fid_identical_sets_is_zero():
  feats = gaussian(6, 2000, 64)
  mu, sigma = _mean_cov(feats)
  assert stats.frechet_distance(mu, sigma, mu, sigma) < 1e-3
  mu_s, sigma_s = _mean_cov(feats[:50])  # singular covariance
  assert stats.frechet_distance(mu_s, sigma_s, mu_s, sigma_s) < 1e-3


# ----------------------------------------------------------------------------
# KID.
# ----------------------------------------------------------------------------


def test_kid_full_subset_matches_reference():
  real = gaussian(7, 250, 64)
  fake = gaussian(8, 250, 64, shift=0.3)
  # One subset holding every sample: deterministic, whatever the permutation.
  mean, stderr = stats.kid(real, fake, num_subsets=1, subset_size=250)
  assert abs(mean - ref_mmd2(real, fake)) / ref_mmd2(real, fake) < 1e-5
  assert np.isnan(stderr)


def test_kid_subsets_match_reference_on_same_indices():
  real = gaussian(9, 400, 32)
  fake = gaussian(10, 100, 32, shift=0.2, scale=1.2)
  key = jax.random.PRNGKey(3)
  # subset_size is clipped to n_fake = 100; real subsets are 100 of 400.
  mean, stderr = stats.kid(real, fake, num_subsets=5, subset_size=10_000, key=key)
  idx_r, idx_f = stats._kid_subset_indices(key, 400, 100, 5, 100)
  idx_r, idx_f = np.asarray(idx_r), np.asarray(idx_f)
  assert idx_r.shape == (5, 100)
  assert all(len(set(row)) == 100 for row in idx_r)  # without replacement
  ref = [ref_mmd2(real[i], fake[j]) for i, j in zip(idx_r, idx_f)]
  assert abs(mean - np.mean(ref)) / np.mean(ref) < 1e-5
  assert abs(stderr - np.std(ref, ddof=1) / np.sqrt(5)) / stderr < 1e-3


def test_kid_same_vs_shifted_distribution():
  real = gaussian(11, 1000, 64)
  same = gaussian(12, 1000, 64)
  shifted = gaussian(13, 1000, 64, shift=0.5)
  key = jax.random.PRNGKey(0)
  kid_same, se_same = stats.kid(real, same, num_subsets=20, subset_size=200, key=key)
  kid_shift, se_shift = stats.kid(real, shifted, num_subsets=20, subset_size=200, key=key)
  assert abs(kid_same) < 4 * se_same
  assert kid_shift > 20 * se_shift and kid_shift > 100 * abs(kid_same)


# ----------------------------------------------------------------------------
# k-NN metrics.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("k,batch_size", [(1, 64), (3, 50), (5, 1000)])
def test_precision_recall_matches_bruteforce(k, batch_size):
  real = gaussian(14, 300, 16)
  fake = gaussian(15, 230, 16, shift=0.4, scale=0.8)  # 230: blocks don't divide it
  ours = stats.precision_recall(real, fake, k=k, batch_size=batch_size)
  ref = ref_precision_recall(real.astype(np.float64), fake.astype(np.float64), k)
  np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_precision_recall_large_offset_matches_bruteforce():
  # Centring inside the metric keeps float32 distances accurate at mean 1e3.
  real = gaussian(16, 200, 16, shift=1e3)
  fake = gaussian(17, 200, 16, shift=1e3 + 0.3)
  ours = stats.precision_recall(real, fake, k=3, batch_size=64)
  ref = ref_precision_recall(real.astype(np.float64), fake.astype(np.float64), 3)
  np.testing.assert_allclose(ours, ref, atol=1.0 / 200 + 1e-9)


def test_precision_recall_identical_distribution_high():
  precision, recall = stats.precision_recall(gaussian(18, 1000, 16),
                                             gaussian(19, 1000, 16), k=3)
  assert precision > 0.6 and recall > 0.6


def test_precision_recall_mode_collapse():
  real = gaussian(20, 1000, 16)
  fake = real[0] + 0.01 * gaussian(21, 1000, 16)  # everything near one real point
  precision, recall = stats.precision_recall(real, fake, k=3)
  assert precision > 0.95
  assert recall < 0.02


@pytest.mark.parametrize("k,batch_size", [(1, 32), (5, 100)])
def test_density_coverage_matches_bruteforce(k, batch_size):
  real = gaussian(22, 250, 12)
  fake = gaussian(23, 310, 12, shift=0.3)
  ours = stats.density_coverage(real, fake, k=k, batch_size=batch_size)
  ref = ref_density_coverage(real.astype(np.float64), fake.astype(np.float64), k)
  np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_density_coverage_identical_and_collapsed():
  real = gaussian(24, 1000, 16)
  density, coverage = stats.density_coverage(real, gaussian(25, 1000, 16))
  assert 0.8 < density < 1.2 and coverage > 0.9
  _, coverage_collapsed = stats.density_coverage(real, real[:1] + 0.01 * gaussian(26, 500, 16))
  assert coverage_collapsed < 0.02


def test_knn_metrics_reject_bad_k():
  with pytest.raises(ValueError):
    stats.precision_recall(gaussian(0, 3, 4), gaussian(1, 10, 4), k=3)


# ----------------------------------------------------------------------------
# Classifier outputs.
# ----------------------------------------------------------------------------


def test_classifier_score_extremes():
  one_hot = jnp.eye(10)[np.arange(1000) % 10]
  assert stats.classifier_score(one_hot) == pytest.approx(10.0, rel=1e-6)
  assert stats.classifier_score(50.0 * one_hot, from_logits=True) == pytest.approx(10.0, rel=1e-5)
  single = jnp.eye(10)[np.zeros(1000, int)]
  assert stats.classifier_score(single) == pytest.approx(1.0, rel=1e-6)
  # Uninformative predictions also give 1.
  assert stats.classifier_score(jnp.full((100, 10), 0.1)) == pytest.approx(1.0, rel=1e-5)


def test_classifier_score_streaming_matches_numpy():
  logits = gaussian(27, 700, 10, scale=3.0)
  probs = np.exp(logits - logits.max(1, keepdims=True)).astype(np.float64)
  probs /= probs.sum(axis=1, keepdims=True)
  marginal = probs.mean(axis=0)
  ref = np.exp(np.mean(np.sum(probs * np.log(probs / marginal), axis=1)))
  s = stats.classifier_score_init(10)
  for batch in np.split(logits, [100, 333, 334]):
    s = stats.classifier_score_update(s, batch, from_logits=True)
  assert stats.classifier_score_finalize(s) == pytest.approx(ref, rel=1e-5)


def test_class_histogram_stats():
  # 10 classes, 1000 samples: uniform count 100, threshold 10.
  labels = np.concatenate([np.repeat(np.arange(8), 120), np.full(31, 8), np.full(9, 9)])
  out = stats.class_histogram_stats(labels, 10)
  assert out["histogram"] == [120] * 8 + [31, 9]
  assert out["coverage_threshold"] == 10.0
  assert out["classes_covered"] == 9  # class 9 has 9 < 10 samples
  p = np.array(out["histogram"]) / 1000
  assert out["class_kl"] == pytest.approx(np.sum(p * np.log(p * 10)), rel=1e-4)

  uniform = stats.class_histogram_stats(np.arange(1000) % 10, 10, real_class_freq=np.full(10, 7))
  assert uniform["classes_covered"] == 10 and uniform["class_kl"] == pytest.approx(0, abs=1e-9)

  # Generated mass on a class absent from the real data: large but finite.
  missing = stats.class_histogram_stats(np.arange(100) % 2, 2, real_class_freq=[1.0, 0.0])
  assert np.isfinite(missing["class_kl"]) and missing["class_kl"] > 5

  with pytest.raises(ValueError):
    stats.class_histogram_stats(np.array([0, 10]), 10)
