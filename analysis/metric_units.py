"""The unit of every weekly metric in metrics.parquet: one table for axis labels and calibration moments.

The metrics are the model's weekly reporters (docs/ODD.md section 4.11; ``step`` is the week, not a
metric). analysis/ never imports the model, so the names are listed here; a test checks the list
against the model's reporters, so a new metric cannot go without a unit.
"""

from __future__ import annotations

#: Unit -> the weekly metrics in that unit.
METRICS_BY_UNIT: dict[str, tuple[str, ...]] = {
    "share of demand (0-1)": (
        "permanent_share", "permanent_share_bpo", "permanent_share_kpo", "on_call_share", "on_call_share_bpo",
        "on_call_share_kpo", "in_house_share", "in_house_share_bpo", "in_house_share_kpo", "unmet_share"),
    "loyalty y (0-1; 1 = always the same provider)": ("loyalty_mean", "loyalty_on_call"),
    "share of outsourcing firm-services": ("on_call_mode_share",),
    "share of the in-house cost": ("realised_saving",),
    "share of on-call buyers per week": ("switch_rate",),
    "cu/hour": (
        "mean_price_bpo", "mean_price_kpo", "mean_price_on_call", "mean_price_permanent", "posted_price_bpo_domestic",
        "posted_price_bpo_offshore", "posted_price_kpo_domestic", "posted_price_kpo_offshore"),
    "share of capacity": ("provider_utilization",),
    "share of outsourced hours": ("offshore_share", "broker_share"),
    "share of hours": ("on_time_rate",),
    "quality (0-1)": ("quality_mean",),
    "providers": ("active_providers",),
    "providers per week": ("provider_entries", "provider_exits"),
    "contracts": ("active_contracts",),
    "contracts per week": ("contracts_signed", "contracts_renewed", "contracts_ended"),
    "cu/week": (
        "firm_payments", "provider_revenue", "broker_fees", "onboarding_costs", "switching_costs", "firm_surplus",
        "provider_profit", "outsourced_inhouse_cost", "outsourced_cost", "unmet_cost", "management_costs"),
    "hours/week": (
        "demand_hours", "in_house_hours", "permanent_hours", "on_call_hours", "unmet_hours", "capacity_hours",
        "used_hours", "max_capacity_overuse", "capacity_hours_bpo", "capacity_hours_kpo", "used_hours_bpo",
        "used_hours_kpo"),
    "index (1 at the start)": ("wage_index_domestic", "wage_index_offshore"),
    "multiplier of base demand": ("demand_level",),
}

#: The metrics that can only lie in [0, 1]: intervals around their means are clipped to it.
UNIT_INTERVAL_METRICS: frozenset[str] = frozenset(
    name for unit in ("share of demand (0-1)", "loyalty y (0-1; 1 = always the same provider)",
                      "share of outsourcing firm-services", "share of on-call buyers per week",
                      "share of outsourced hours", "share of hours", "quality (0-1)")
    for name in METRICS_BY_UNIT[unit])

#: Weekly metric name -> its unit, in the order of the table above.
METRIC_UNITS: dict[str, str] = {name: unit for unit, names in METRICS_BY_UNIT.items() for name in names}


def metric_label(name: str) -> str:
    """Axis label of a weekly metric with its unit (``[-]`` for a name that is not a metric)."""
    return f"{name} [{METRIC_UNITS.get(name, '-')}]"
