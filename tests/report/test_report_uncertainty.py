"""The 95% Wilson interval, the seed spread and when a difference counts as resolved."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.stats import binomtest

from analysis.report.uncertainty import accuracy_of, difference_resolved, difference_text, wilson_interval


def test_wilson_interval_of_a_known_count():
    low, high = wilson_interval(90, 100)
    assert low == pytest.approx(0.8256, abs=5e-4) and high == pytest.approx(0.9448, abs=5e-4)
    # scipy's Wilson interval (without continuity correction) agrees to rounding
    reference = binomtest(90, 100).proportion_ci(confidence_level=0.95, method="wilson")
    assert low == pytest.approx(reference.low, abs=1e-9) and high == pytest.approx(reference.high, abs=1e-9)


def test_wilson_interval_at_the_ends_stays_in_zero_one():
    assert wilson_interval(0, 50)[0] == 0.0 and wilson_interval(50, 50)[1] == 1.0
    assert wilson_interval(50, 50)[0] == pytest.approx(0.9287, abs=5e-4)
    with pytest.raises(ValueError, match="correct=11"):
        wilson_interval(11, 10)


def test_accuracy_of_one_seed_and_of_several():
    one = accuracy_of(pd.DataFrame({"accuracy": [0.9], "test_samples": [100], "correct": [90], "seed": [0]}))
    assert one.text() == "90.0% [82.6–94.5]" and one.seeds == 1 and one.spread == 0
    three = accuracy_of(pd.DataFrame({"accuracy": [0.90, 0.92, 0.94], "test_samples": [100] * 3,
                                      "correct": [90, 92, 94], "seed": [0, 1, 2]}))
    assert three.mean == pytest.approx(0.92) and three.spread == pytest.approx(0.02)
    assert (three.low, three.high) == pytest.approx(wilson_interval(276, 300))
    assert three.text().startswith("92.0% ± 2.0 over 3 seeds [")
    # one row per seed even when every hardware model repeats it
    repeated = pd.concat([pd.DataFrame({"accuracy": [0.9], "test_samples": [100], "correct": [90], "seed": [0]})] * 3)
    assert accuracy_of(repeated).total == 100


def test_differences_inside_the_interval_are_marked():
    def make(correct, total=360):
        return accuracy_of(pd.DataFrame({"accuracy": [correct / total], "test_samples": [total], "correct": [correct]}))

    assert not difference_resolved(make(340), make(349))
    assert difference_text(make(340), make(349)) == "−2.5 pp (within the interval)"
    assert difference_resolved(make(300), make(349))
    assert difference_text(make(300), make(349)) == "−13.6 pp"
    assert math.isnan(accuracy_of(pd.DataFrame()).mean)
    uncounted = accuracy_of(pd.DataFrame({"accuracy": [0.5]}))
    assert uncounted.text() == "50.0% [no interval]"
    assert difference_text(uncounted, make(349)) == "−46.9 pp (no interval: the run has no test-sample counts)"
