"""Unit tests for analysis/calibration.py: target losses, the evaluation loss and the fit table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.calibration import MISSING_PENALTY, fit_table, label, loss, replication_means, target_loss, within

RANGE = {"moment": "renewal_rate_kpo", "window": (469, 520), "weight": 2.0, "low": 0.8, "high": 0.9}
VALUE = {"moment": "offshore_share", "window": (1, 520), "weight": 1.0, "value": 0.3, "sd": 0.05}


def test_a_range_costs_nothing_inside_and_the_squared_distance_in_range_widths_outside():
    """Inside [0.8, 0.9] the loss is 0; 0.1 below is one width: weight x 1; 0.05 above is half a width: weight x 1/4."""
    assert target_loss(0.8, RANGE) == target_loss(0.85, RANGE) == target_loss(0.9, RANGE) == 0.0
    assert target_loss(0.7, RANGE) == pytest.approx(2.0)
    assert target_loss(0.95, RANGE) == pytest.approx(0.5)


def test_a_value_costs_its_squared_z_score():
    """0.4 against 0.3 +- 0.05 is z = 2: loss 4; on the value it is 0."""
    assert target_loss(0.4, VALUE) == pytest.approx(4.0) and target_loss(0.3, VALUE) == 0.0


def test_a_moment_the_run_cannot_compute_costs_the_missing_penalty():
    """NaN (no data for the moment) costs weight x MISSING_PENALTY, more than any near miss."""
    assert target_loss(float("nan"), RANGE) == 2.0 * MISSING_PENALTY
    assert target_loss(float("nan"), RANGE) > target_loss(0.5, RANGE)


def test_the_loss_sums_targets_over_replication_means():
    """Moments are averaged over replications first; the loss is the sum of the targets' losses."""
    reps = [{label(RANGE): 0.6, label(VALUE): 0.3}, {label(RANGE): 0.8, label(VALUE): 0.4}]
    means = replication_means(reps, [RANGE, VALUE])
    assert means == {label(RANGE): pytest.approx(0.7), label(VALUE): pytest.approx(0.35)}
    assert loss(means, [RANGE, VALUE]) == pytest.approx(2.0 * 1.0 + 1.0)
    assert math.isnan(replication_means([{label(RANGE): 0.8}, {}], [RANGE])[label(RANGE)])


def test_within_means_inside_the_range_or_one_sd_of_the_value():
    """0.9 is within [0.8, 0.9]; 0.34 is within 0.3 +- 0.05 and 0.36 is not; NaN never is."""
    assert within(0.9, RANGE) and not within(0.91, RANGE)
    assert within(0.34, VALUE) and not within(0.36, VALUE) and not within(float("nan"), VALUE)


def test_the_fit_table_gives_the_mean_with_a_95_percent_t_interval():
    """Four replications of a moment: mean and mean +- t(0.975, 3) sd / 2, with the target's terms beside it."""
    values = [0.82, 0.86, 0.84, 0.88]
    table = fit_table([{label(RANGE): v} for v in values], [RANGE])
    row = table.iloc[0]
    half = stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert row["mean"] == pytest.approx(0.85) and row["ci_high"] - row["mean"] == pytest.approx(half)
    assert bool(row["within"]) and row["loss"] == 0.0 and (row["low"], row["high"]) == (0.8, 0.9)
