"""Evaluate generated samples against real data with a chosen set of metrics.

Metric groups (names for ``--metrics``):

- ``fid``: Frechet distance of extractor features (Heusel et al. 2017).
- ``kid``: kernel inception distance, mean and std over subsets (Binkowski et al. 2018).
- ``pr``: improved precision and recall (Kynkaanniemi et al. 2019).
- ``dc``: density and coverage (Naeem et al. 2020).
- ``is``: Inception Score from the extractor's class logits (Salimans et al. 2016).
- ``classes``: classes covered and KL of the predicted class histogram to uniform.
- ``diversity``: mean pairwise distance of samples over that of real data.
- ``modes``: modes captured / high-quality fraction on a 2-D mixture.
- ``artifacts``: energy above an 8x8 bottleneck, for samples and as a ratio to real data
  (:mod:`gan_apps.evaluation.artifacts`).

On 2-D points the "features" are the points themselves.
"""

from __future__ import annotations

import numpy as np

from gan_apps.errors import UserInputError
from gan_apps.evaluation import artifacts, diversity, metrics
from gan_apps.evaluation.frechet import frechet_distance
from gan_apps.evaluation.modes import mixture_mode_stats

IMAGE_METRICS = ("fid", "kid", "pr", "dc", "is", "classes", "diversity", "artifacts")
POINT_METRICS = ("modes", "fid", "kid", "pr", "dc", "diversity")
DEFAULT_IMAGE_METRICS = ("fid", "kid", "pr", "classes", "diversity")
DEFAULT_POINT_METRICS = ("modes", "fid", "diversity")


def parse_metrics(text, kind):
    """Split ``"fid,kid"`` into names, checking them against the data kind."""
    allowed = IMAGE_METRICS if kind == "image" else POINT_METRICS
    if not text:
        return DEFAULT_IMAGE_METRICS if kind == "image" else DEFAULT_POINT_METRICS
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise UserInputError(
            f"unknown metric(s) {', '.join(unknown)} for {kind} data; choose from {', '.join(allowed)}"
        )
    return names


def evaluate(fake, real, names, *, extractor=None, num_classes=None, mixture=None, seed=0,
             fake_labels=None, fake_codes=None):
    """Compute the metric groups ``names`` for ``fake`` against ``real``; returns a flat dict.

    Args:
        fake, real: images [N, H, W, C] in [-1, 1], or 2-D points [N, 2].
        names: metric group names (see the module docstring).
        extractor: a feature extractor (``gan_apps.evaluation.features``) for images.
        num_classes: classes of the extractor's logits, for ``classes``.
        mixture: a ``gan_apps.data.Mixture`` for ``modes``.
        fake_labels: the labels conditional samples were generated for; with an extractor
            that has class logits, adds ``conditional_accuracy`` (Odena et al. 2017, Sec. 4).
        fake_codes: the categorical codes of an unsupervised model's samples (InfoGAN's
            c_cat), which name no class: with class logits, adds ``code_match``, the
            classifier's labels matched to the codes one to one (Hungarian algorithm), the
            accuracy InfoGAN reports for c_cat (Chen et al. 2016, Sec. 7.1).
    """
    fake, real = np.asarray(fake, np.float32), np.asarray(real, np.float32)
    results = {}
    if fake.ndim == 2:
        fake_features, real_features, fake_logits = fake, real, None
    else:
        if extractor is None:
            raise ValueError("image metrics need a feature extractor")
        fake_out, real_out = extractor(fake), extractor(real)
        fake_features, real_features = fake_out["features"], real_out["features"]
        fake_logits = fake_out.get("logits")
        results["extractor"] = extractor.description
    if fake_labels is not None and fake_logits is not None:
        results["conditional_accuracy"] = metrics.conditional_accuracy(fake_logits, fake_labels)
    if fake_codes is not None and fake_logits is not None:
        results["code_match"] = metrics.code_class_match_accuracy(
            fake_codes, np.argmax(fake_logits, axis=-1))
    for name in names:
        if name == "fid":
            results["fid"] = frechet_distance(real_features, fake_features)
        elif name == "kid":
            subset = min(1000, len(real_features), len(fake_features))
            mean, std = metrics.kernel_inception_distance(
                real_features, fake_features, subset_size=subset, seed=seed
            )
            results.update(kid=mean, kid_std=std)
        elif name == "pr":
            results.update(metrics.precision_recall(real_features, fake_features))
        elif name == "dc":
            results.update(metrics.density_coverage(real_features, fake_features))
        elif name == "is":
            _need_logits(fake_logits, name)
            mean, std = metrics.inception_score(fake_logits, splits=min(10, len(fake_logits)))
            results.update(inception_score=mean, inception_score_std=std)
        elif name == "classes":
            _need_logits(fake_logits, name)
            coverage = metrics.class_coverage(
                np.argmax(fake_logits, axis=-1), num_classes or fake_logits.shape[-1]
            )
            results.update(classes_covered=coverage["classes_covered"],
                           class_kl=coverage["kl_to_uniform"])
        elif name == "diversity":
            results["diversity_ratio"] = diversity.collapse_ratio(fake, real)
        elif name == "artifacts":
            energy = artifacts.residual_energy(fake)
            results.update(artifact_energy=energy,
                           artifact_ratio=energy / max(artifacts.residual_energy(real), 1e-12))
        elif name == "modes":
            if mixture is None:
                raise UserInputError("the modes metric needs ring8 or grid25 data")
            stats = mixture_mode_stats(fake, mixture.centers, mixture.std)
            results.update(modes_captured=stats["modes_captured"],
                           high_quality_fraction=stats["high_quality_fraction"],
                           mode_kl=stats["kl_to_uniform"])
    return {k: (float(v) if isinstance(v, (np.floating, np.integer, int, float)) else v)
            for k, v in results.items()}


def _need_logits(logits, name):
    if logits is None:
        raise UserInputError(f"the {name} metric needs an extractor with class logits (digits)")


def format_table(results):
    """Two aligned columns, one metric a line.

    When ``results`` has a ``floor`` key (``gan-apps evaluate``: the same metrics for real
    held-out data against the same reference, None when there is none), each metric the
    floor has is followed by ``(real-data floor X)``, and a line says what the floor is
    measured on and a ``verdict:`` line ends the table (:func:`verdict`).
    """
    has_floor = "floor" in results
    floor = results.get("floor") or {}
    rows = {k: v for k, v in results.items() if k != "floor"}
    width = max(len(k) for k in rows)
    texts = {k: _text(v) for k, v in rows.items()}
    value_width = max((len(texts[k]) for k in rows if _floored(k, rows, floor)), default=0)
    lines = []
    for key, text in texts.items():
        if _floored(key, rows, floor):
            text = f"{text.ljust(value_width)}  (real-data floor {_text(floor[key])})"
        lines.append(f"{key.ljust(width)}  {text}")
    if has_floor:
        if floor:
            lines.append(f"real-data floor: {floor.get('examples')} real examples of the "
                         f"{floor.get('split')} split against the same reference")
        lines.append(f"verdict: {verdict(rows, results['floor'])}")
    return "\n".join(lines)


def _text(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _floored(key, rows, floor):
    return isinstance(rows.get(key), float) and isinstance(floor.get(key), float)


def verdict(results, floor):
    """One line on how far ``results`` are from the real-data ``floor`` (a dict, or None).

    On 2-D mixtures the modes captured beside the real data's; FID (>= 0, 0 for identical
    feature statistics) as a multiple of its floor; with neither, the first metric the floor
    has, beside it.
    """
    if not floor:
        return ("no real-data floor (the data has no held-out split); compare runs on the "
                "same data with each other")
    parts = []
    if _floored("modes_captured", results, floor):
        parts.append(f"{results['modes_captured']:g} modes captured (real data: "
                     f"{floor['modes_captured']:g})")
    if _floored("fid", results, floor) and floor["fid"] > 0:
        parts.append(f"FID {results['fid'] / floor['fid']:.1f}x the real-data floor")
    if parts:
        return "; ".join(parts)
    for key, value in results.items():
        if _floored(key, results, floor):
            return f"{key} {_text(value)} against a real-data floor of {_text(floor[key])}"
    return "no metric with a real-data floor"
