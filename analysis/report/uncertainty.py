"""How sure an accuracy is: a 95% Wilson score interval over test samples, the spread over seeds,
and whether a difference between two accuracies is resolved.

The Wilson interval for k correct out of n, with z the normal quantile (1.96 for 95%)::

    centre = (k + z²/2) / (n + z²),   half = z·sqrt(k(n−k)/n + z²/4) / (n + z²)

A difference of two accuracies is *resolved* when Newcombe's hybrid score interval for p₁ − p₂
(built from the two Wilson intervals) excludes 0 and, with several seeds, the difference also
exceeds the larger seed spread. Both test sets are the same images, so this ignores their pairing
and is conservative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy.special import ndtri  # the standard normal quantile (scipy.stats.norm.ppf), lighter to import

from analysis.report.tables import numeric

__all__ = ["Accuracy", "accuracy_of", "difference_interval", "difference_resolved", "difference_text",
           "wilson_interval"]


def wilson_interval(correct: float, total: float, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval (low, high) of ``correct`` successes out of ``total`` trials."""
    if total <= 0:
        return (float("nan"), float("nan"))
    if not 0 <= correct <= total:
        raise ValueError(f"correct={correct} must lie in [0, total={total}]")
    z = float(ndtri(0.5 + confidence / 2))
    denominator = total + z * z
    centre = (correct + z * z / 2) / denominator
    half = z * math.sqrt(correct * (total - correct) / total + z * z / 4) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Accuracy:
    """An accuracy over ``seeds`` seeds: the mean, the pooled Wilson interval and the seed spread
    (the sample standard deviation over seeds; 0 with one seed)."""

    mean: float
    low: float
    high: float
    correct: float
    total: float
    seeds: int
    spread: float

    def text(self) -> str:
        """``92.5% [90.1–94.3]`` (one seed) or ``92.5% ± 0.8 over 3 seeds [90.1–94.3]``."""
        if not math.isfinite(self.mean):
            return "n/a"
        interval = f"[{100 * self.low:.1f}–{100 * self.high:.1f}]" if math.isfinite(self.low) else "[no interval]"
        if self.seeds > 1:
            return f"{100 * self.mean:.1f}% ± {100 * self.spread:.1f} over {self.seeds} seeds {interval}"
        return f"{100 * self.mean:.1f}% {interval}"

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def accuracy_of(rows: pd.DataFrame, test_samples: int | None = None) -> Accuracy:
    """The accuracy of one configuration from its ``results`` rows (one per seed and hardware model;
    the hardware model does not change the accuracy). ``correct``/``test_samples`` columns give the
    counts; a run without them uses ``test_samples`` (the data set's) and the rounded accuracy."""
    if rows.empty:
        nan = float("nan")
        return Accuracy(nan, nan, nan, nan, nan, 0, nan)
    per_seed = rows.drop_duplicates(subset=["seed"]) if "seed" in rows.columns else rows.iloc[:1]
    accuracy = numeric(per_seed, "accuracy")
    total = numeric(per_seed, "test_samples", float(test_samples or 0))
    correct = numeric(per_seed, "correct", float("nan")).where(lambda s: s.notna(), (accuracy * total).round())
    n, k = float(total.sum()), float(correct.sum())
    low, high = wilson_interval(k, n) if n > 0 else (float("nan"), float("nan"))
    spread = float(accuracy.std(ddof=1)) if len(per_seed) > 1 else 0.0
    return Accuracy(float(accuracy.mean()), low, high, k, n, len(per_seed), spread)


def difference_interval(a: Accuracy, b: Accuracy) -> tuple[float, float]:
    """Newcombe's hybrid score interval for a.mean − b.mean."""
    d = a.mean - b.mean
    low = d - math.sqrt((a.mean - a.low) ** 2 + (b.high - b.mean) ** 2)
    high = d + math.sqrt((a.high - a.mean) ** 2 + (b.mean - b.low) ** 2)
    return low, high


def difference_resolved(a: Accuracy, b: Accuracy) -> bool:
    """Whether ``a`` and ``b`` differ by more than their uncertainty (see the module's docstring)."""
    if not (math.isfinite(a.low) and math.isfinite(b.low)):
        return False
    low, high = difference_interval(a, b)
    if low <= 0 <= high:
        return False
    return abs(a.mean - b.mean) > max(a.spread, b.spread)


def difference_text(a: Accuracy, b: Accuracy) -> str:
    """``−3.2 pp`` or ``+0.3 pp (within the interval)``."""
    d = 100 * (a.mean - b.mean)
    if not math.isfinite(d):
        return "n/a"
    text = f"{d:+.1f} pp".replace("-", "−")
    if not (math.isfinite(a.low) and math.isfinite(b.low)):
        return f"{text} (no interval: the run has no test-sample counts)"
    return text if difference_resolved(a, b) else f"{text} (within the interval)"
