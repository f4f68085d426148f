"""Unit tests of analysis/stats.py: week windows, window means and the 95% t interval of a mean."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.stats import last_window, t_half_width, window_mean

# Student's t, 97.5% quantiles (printed tables: 12.706, 4.303 and 1.962 for 1, 2 and 999 degrees of freedom)
T_975 = {1: 12.70620474, 2: 4.30265273, 999: 1.96234146}


def test_t_half_width_of_three_values_matches_the_tabled_quantile():
    """For n = 3 the half-width is t(0.975, 2) * sd / sqrt(3), with the tabled t = 4.303."""
    sd = np.std([1.0, 2.0, 6.0], ddof=1)
    assert t_half_width(sd, 3) == pytest.approx(T_975[2] * sd / math.sqrt(3), rel=1e-8)


def test_t_half_width_works_element_by_element_and_is_nan_below_two_values():
    """Arrays of sd and n give one half-width each; n of 0 or 1 gives NaN, not an error or infinity."""
    half = t_half_width(np.array([2.0, 2.0, 0.5, 1.0]), np.array([0, 1, 2, 1000]))
    assert np.isnan(half[0]) and np.isnan(half[1])
    assert half[2] == pytest.approx(T_975[1] * 0.5 / math.sqrt(2), rel=1e-8)
    assert half[3] == pytest.approx(T_975[999] * 1.0 / math.sqrt(1000), rel=1e-8)  # near the normal's 1.96


def test_last_window_is_the_last_weeks_inclusive_and_starts_at_week_one_for_short_runs():
    """The last 52 weeks of 120 are 69..120; of a 30-week run, 1..30; other lengths work too."""
    assert last_window(120) == (69, 120)
    assert last_window(30) == (1, 30)
    assert last_window(100, 10) == (91, 100)


def test_window_mean_includes_both_ends_and_skips_nan_weeks():
    """Weeks 2..4 of 1..5 are averaged per metric (both ends in), NaN weeks left out, step not averaged."""
    metrics = pd.DataFrame({"step": [1, 2, 3, 4, 5], "x": [100.0, 1.0, 2.0, 3.0, 100.0],
                            "y": [0.0, np.nan, 4.0, 8.0, 0.0], "count": [9, 1, 1, 4, 9]})
    means = window_mean(metrics, (2, 4))
    assert list(means.index) == ["x", "y", "count"]
    assert means["x"] == pytest.approx(2.0) and means["y"] == pytest.approx(6.0) and means["count"] == pytest.approx(2.0)


def test_window_mean_of_chosen_columns_and_of_an_empty_window():
    """Only the asked columns are averaged, in the order asked; a window with no weeks gives NaN."""
    metrics = pd.DataFrame({"step": [1, 2], "a": [1.0, 3.0], "b": [5.0, 7.0]})
    assert window_mean(metrics, (1, 2), ["b", "a"]).to_dict() == {"b": 6.0, "a": 2.0}
    assert np.isnan(window_mean(metrics, (5, 9), ["a"])["a"])
