"""Sample-based metrics against brute-force loops, scipy/scikit-learn and closed forms."""

import numpy as np
import pytest
from scipy import special, stats
from sklearn.metrics.pairwise import polynomial_kernel as sklearn_polynomial_kernel

from gan_apps.errors import UserInputError
from gan_apps.evaluation import metrics
from gan_apps.evaluation.metrics import (
    class_coverage,
    conditional_accuracy,
    density_coverage,
    inception_score,
    kernel_inception_distance,
    mmd2_unbiased,
    polynomial_kernel,
    precision_recall,
)


def loop_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, one pair at a time."""
    d = x.shape[1]

    def k(a, b):
        return (np.dot(a, b) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def kth_radius(points, i, k):
    distances = sorted(np.linalg.norm(points[i] - points[j]) for j in range(len(points)) if j != i)
    return distances[k - 1]


@pytest.fixture
def small_chunks(monkeypatch):
    # Blocks of a few rows, so the chunked loops run many times on small test sets.
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 64)


def test_polynomial_kernel_matches_scikit_learn():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    expected = sklearn_polynomial_kernel(x, y, degree=3, gamma=1 / 5, coef0=1)
    assert np.allclose(polynomial_kernel(x, y), expected)
    assert np.allclose(
        polynomial_kernel(x, y, degree=2, gamma=0.3, coef0=0.5),
        sklearn_polynomial_kernel(x, y, degree=2, gamma=0.3, coef0=0.5),
    )


def test_mmd2_unbiased_matches_double_loop_for_unequal_sizes():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(9, 4)), rng.normal(0.5, 1.2, size=(6, 4))
    assert mmd2_unbiased(x, y, polynomial_kernel) == pytest.approx(loop_mmd2(x, y), rel=1e-10)


def test_kid_with_full_subsets_equals_double_loop():
    # Subsets as large as both sets are permutations of them: every estimate is the full MMD^2.
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(12, 3)), rng.normal(0.7, 1.0, size=(12, 3))
    mean, std = kernel_inception_distance(real, fake, num_subsets=5, subset_size=1000)
    assert mean == pytest.approx(loop_mmd2(real, fake), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("gram_entries", [metrics.KID_GRAM_ENTRIES, 0],
                         ids=["gram-matrices-once", "per-subset"])
def test_kid_subset_average_and_seed(monkeypatch, gram_entries):
    # Both ways of computing the subsets' Gram matrices give the loop's estimates.
    monkeypatch.setattr(metrics, "KID_GRAM_ENTRIES", gram_entries)
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(60, 4)), rng.normal(0.3, 1.0, size=(50, 4))
    mean, std = kernel_inception_distance(real, fake, num_subsets=8, subset_size=20, seed=7)
    # Replays the subset draws: per subset, real indices and then fake indices.
    draw = np.random.default_rng(7)
    expected = []
    for _ in range(8):
        r = real[draw.choice(60, 20, replace=False)]
        f = fake[draw.choice(50, 20, replace=False)]
        expected.append(loop_mmd2(r, f))
    assert mean == pytest.approx(np.mean(expected), rel=1e-9)
    assert std == pytest.approx(np.std(expected), rel=1e-9)
    assert kernel_inception_distance(real, fake, num_subsets=8, subset_size=20, seed=7) == (mean, std)


def test_kid_near_zero_for_same_distribution_and_positive_when_shifted():
    rng = np.random.default_rng(4)
    d = 16
    real = rng.normal(size=(600, d))
    same = rng.normal(size=(600, d))
    shifted = rng.normal(0.5, 1.0, size=(600, d))
    same_mean, same_std = kernel_inception_distance(real, same, num_subsets=20, subset_size=300)
    shifted_mean, shifted_std = kernel_inception_distance(real, shifted, num_subsets=20, subset_size=300)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert shifted_mean > 0.05
    assert shifted_mean > same_mean + 10 * shifted_std


def test_kid_rejects_mismatched_features():
    with pytest.raises(UserInputError, match="same feature extractor"):
        kernel_inception_distance(np.zeros((5, 3)), np.zeros((5, 4)))


def test_inception_score_of_uniform_logits_is_one():
    mean, std = inception_score(np.zeros((100, 10)), splits=5)
    assert mean == pytest.approx(1.0)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_confident_balanced_logits_is_num_classes():
    num_classes, splits = 7, 4
    labels = np.tile(np.arange(num_classes), 3 * splits)
    logits = 1000.0 * np.eye(num_classes)[labels]  # large logits must not overflow
    mean, std = inception_score(logits, splits=splits)
    assert mean == pytest.approx(num_classes, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_matches_scipy_kl():
    rng = np.random.default_rng(5)
    logits = rng.normal(scale=3.0, size=(90, 6))
    scores = []
    for chunk in np.array_split(logits, 3):
        p = special.softmax(chunk, axis=1)
        marginal = p.mean(axis=0)
        scores.append(np.exp(np.mean([stats.entropy(row, marginal) for row in p])))
    mean, std = inception_score(logits, splits=3)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)


def test_inception_score_rejects_too_many_splits():
    with pytest.raises(UserInputError, match="splits"):
        inception_score(np.zeros((5, 3)), splits=10)


def test_precision_recall_identical_sets():
    x = np.random.default_rng(6).normal(size=(80, 5))
    assert precision_recall(x, x, k=3) == {"precision": 1.0, "recall": 1.0}


def test_precision_recall_far_apart_sets():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(60, 4))
    fake = rng.normal(size=(60, 4)) + 100.0
    assert precision_recall(real, fake, k=3) == {"precision": 0.0, "recall": 0.0}


def test_precision_recall_half_the_modes():
    # Real: 10 tight clusters far apart. Fake: samples from 5 of them only.
    rng = np.random.default_rng(8)
    centres = 50.0 * rng.normal(size=(10, 2))
    real = np.concatenate([c + 0.1 * rng.normal(size=(100, 2)) for c in centres])
    fake = np.concatenate([c + 0.1 * rng.normal(size=(200, 2)) for c in centres[:5]])
    result = precision_recall(real, fake, k=3)
    # Within a mode the k-NN balls miss a few samples near the edges, so not exactly 1 and 0.5.
    assert result["precision"] > 0.9
    assert result["recall"] == pytest.approx(0.5, abs=0.05)


def test_precision_recall_matches_brute_force(small_chunks):
    rng = np.random.default_rng(9)
    real, fake = rng.normal(size=(30, 3)), rng.normal(0.4, 1.3, size=(25, 3))
    k = 3
    real_radii = [kth_radius(real, i, k) for i in range(len(real))]
    fake_radii = [kth_radius(fake, j, k) for j in range(len(fake))]
    precision = np.mean(
        [any(np.linalg.norm(f - real[i]) <= real_radii[i] for i in range(len(real))) for f in fake]
    )
    recall = np.mean(
        [any(np.linalg.norm(r - fake[j]) <= fake_radii[j] for j in range(len(fake))) for r in real]
    )
    result = precision_recall(real, fake, k=k)
    assert 0 < precision < 1 and 0 < recall < 1
    assert result == {"precision": pytest.approx(precision), "recall": pytest.approx(recall)}


def test_density_coverage_matches_brute_force(small_chunks):
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(40, 3)), rng.normal(1.0, 0.5, size=(35, 3))
    k = 5
    radii = [kth_radius(real, i, k) for i in range(len(real))]
    inside = np.array(
        [[np.linalg.norm(fake[j] - real[i]) < radii[i] for i in range(len(real))] for j in range(len(fake))]
    )
    density = inside.sum() / (k * len(fake))
    coverage = inside.any(axis=0).mean()
    result = density_coverage(real, fake, k=k)
    assert 0 < coverage < 1 and density > 0
    assert result == {"density": pytest.approx(density), "coverage": pytest.approx(coverage)}


def test_density_coverage_same_distribution_near_one():
    rng = np.random.default_rng(11)
    real, fake = rng.normal(size=(1000, 4)), rng.normal(size=(1000, 4))
    result = density_coverage(real, fake, k=5)
    assert result["density"] == pytest.approx(1.0, abs=0.15)
    assert result["coverage"] > 0.9


def test_nearest_neighbours_need_more_samples_than_k():
    with pytest.raises(UserInputError, match="smaller k"):
        density_coverage(np.zeros((5, 2)), np.zeros((5, 2)), k=5)


def test_class_coverage_matches_scipy_entropy():
    labels = np.array([0, 0, 0, 1, 1, 3, 3, 3, 3, 3, 5])
    num_classes = 7
    counts = np.bincount(labels, minlength=num_classes)
    result = class_coverage(labels, num_classes)
    assert result["classes_covered"] == 4
    assert result["kl_to_uniform"] == pytest.approx(stats.entropy(counts, np.ones(num_classes)), rel=1e-12)
    assert class_coverage(labels, num_classes, min_count=3)["classes_covered"] == 2


def test_class_coverage_extremes():
    balanced = class_coverage(np.tile(np.arange(10), 5), 10)
    assert balanced == {"classes_covered": 10, "kl_to_uniform": pytest.approx(0.0, abs=1e-12)}
    collapsed = class_coverage(np.full(50, 4), 10)
    assert collapsed == {"classes_covered": 1, "kl_to_uniform": pytest.approx(np.log(10))}


def test_class_coverage_rejects_out_of_range_labels():
    with pytest.raises(UserInputError, match="num_classes"):
        class_coverage(np.array([0, 1, 10]), 10)


def test_conditional_accuracy_from_labels_and_scores():
    target = np.array([0, 1, 2, 2, 1])
    predicted = np.array([0, 1, 1, 2, 0])
    assert conditional_accuracy(predicted, target) == pytest.approx(3 / 5)
    scores = np.eye(3)[predicted] + 0.1
    assert conditional_accuracy(scores, target) == pytest.approx(3 / 5)
    with pytest.raises(UserInputError, match="equal length"):
        conditional_accuracy(predicted[:3], target)


def test_report_matches_an_unsupervised_code_to_classes_and_scores_labels_directly():
    """``fake_codes`` (InfoGAN's c_cat) are matched to the classifier's labels one to one;
    ``fake_labels`` are compared as they are."""
    from gan_apps.evaluation import report

    class Extractor:
        description = "identity"
        num_classes = 3

        def __call__(self, images):
            flat = images.reshape(len(images), -1)
            return {"features": flat, "logits": flat[:, :3]}

    predicted = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    images = np.eye(3, dtype=np.float32)[predicted].reshape(8, 1, 3, 1)
    codes = (predicted + 1) % 3  # the same partition under other names
    codes[-1] = 2  # one sample in another code's group
    with_codes = report.evaluate(images, images, (), extractor=Extractor(), fake_codes=codes)
    assert with_codes["code_match"] == pytest.approx(7 / 8)
    assert "conditional_accuracy" not in with_codes
    with_labels = report.evaluate(images, images, (), extractor=Extractor(), fake_labels=codes)
    assert with_labels["conditional_accuracy"] == pytest.approx(
        conditional_accuracy(predicted, codes))
    assert "code_match" not in with_labels
