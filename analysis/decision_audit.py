"""The decision audit: did firms pay, on average, what they expected when they chose?

At each sourcing review the decision log holds the expected weekly cost of every option, and, once the
firm-service's next review closes the period, the mean weekly cost it really paid in between
(``realised_weekly_cost``: own staff, payments with fees, non-price costs, onboarding, shortage and
management, plus the one-off costs the decision caused spread over the horizon it priced them over).
This module sets the two side by side per option taken.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: How a review ended -> the option whose cost was then paid ("fell back" when a permanent choice got no contract).
TAKEN = {"in_house": "in-house", "on_call": "on-call", "on_call_broker": "on-call via broker", "signed": "permanent (new)",
         "renewed": "permanent (renewed)", "kept": "permanent (kept)", "no_deal": "fell back to on-call",
         "no_capacity": "fell back to on-call"}
ORDER = ("in-house", "on-call", "on-call via broker", "permanent (new)", "permanent (renewed)", "permanent (kept)",
         "fell back to on-call")


def audited(decisions: pd.DataFrame, min_weeks: int = 4) -> pd.DataFrame:
    """The reviews that can be audited: with a realised period of at least ``min_weeks`` weeks, the option taken
    (``taken``) and its expected cost (``expected``; for a permanent choice that got no contract, the cost of
    on-call work through the same channel, which is what the firm then bought)."""
    if "realised_weekly_cost" not in decisions:
        return pd.DataFrame({"taken": pd.Series(dtype=object), "expected": pd.Series(dtype=float),
                             "realised": pd.Series(dtype=float)})
    d = decisions[decisions["realised_weeks"] >= min_weeks]
    choice = d["choice"].astype(str).to_numpy()
    costs = np.column_stack([d[f"cost_{c}"].to_numpy(float) for c in ("in_house", "on_call", "on_call_broker",
                                                                         "permanent", "permanent_broker")])
    index = pd.Series(choice).map({"in_house": 0, "on_call": 1, "on_call_broker": 2, "permanent": 3,
                                   "permanent_broker": 4}).to_numpy()
    fell_back = d["outcome"].astype(str).isin(["no_deal", "no_capacity"]).to_numpy()
    index = np.where(fell_back, np.where(index == 3, 1, 2), index)  # the on-call option of the same channel was paid
    expected = costs[np.arange(len(d)), index] if len(d) else np.empty(0)
    return pd.DataFrame({"taken": d["outcome"].astype(str).map(TAKEN).to_numpy(), "expected": expected,
                         "realised": d["realised_weekly_cost"].to_numpy(float)})


def audit(decisions: pd.DataFrame, min_weeks: int = 4) -> pd.DataFrame:
    """Per option taken: reviews, mean expected and mean realised weekly cost (cu/week), and the gap
    (realised / expected - 1; positive: firms paid more than they expected)."""
    d = audited(decisions, min_weeks)
    d = d[np.isfinite(d["expected"]) & np.isfinite(d["realised"])]
    rows = []
    for taken in ORDER:
        part = d[d["taken"] == taken]
        if part.empty:
            continue
        expected, realised = part["expected"].mean(), part["realised"].mean()
        rows.append({"option taken": taken, "reviews": len(part), "expected": expected, "realised": realised,
                     "gap": realised / expected - 1 if expected else float("nan")})
    return pd.DataFrame(rows, columns=["option taken", "reviews", "expected", "realised", "gap"])
