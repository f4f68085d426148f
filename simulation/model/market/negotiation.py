"""Bilateral negotiation of permanent contract prices: a Nash split between reservation prices.

The firm's reservation price is the unit cost of its best alternative; the provider's is its unit
cost plus a minimum margin, less the value of guaranteed load. If the firm's is lower there is no
deal; otherwise the price splits the surplus with the provider's bargaining power, which rises with
market tightness and skill scarcity (Nash 1950; Binmore, Rubinstein & Wolinsky 1986 for the
asymmetric split). Plain functions over numpy arrays (scalars work too): no Mesa model needed.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulation.config import NegotiationConfig


def provider_reservation(unit_cost: ArrayLike, utilization: ArrayLike, cfg: NegotiationConfig) -> NDArray[np.float64]:
    """Lowest price per hour a provider accepts for guaranteed (reserved) work.

    Guaranteed load is worth more to an idle provider, so the discount scales with idle share.
    """
    unit_cost = np.asarray(unit_cost, dtype=float)
    idle = np.clip(1.0 - np.asarray(utilization, dtype=float), 0.0, 1.0)
    return unit_cost * (1.0 + cfg.min_margin - cfg.guaranteed_load_value * idle)


def bargaining_power(market_utilization: ArrayLike, target_utilization: ArrayLike, skill_level: ArrayLike,
                     cfg: NegotiationConfig) -> NDArray[np.float64]:
    """Provider's share of the surplus, in [0.05, 0.95]: tight markets and scarce skills favour providers."""
    tightness = np.asarray(market_utilization, dtype=float) - np.asarray(target_utilization, dtype=float)
    scarcity = (np.asarray(skill_level, dtype=float) - 1.0) / 4.0
    power = cfg.base_power + cfg.tightness_weight * tightness + cfg.scarcity_weight * scarcity
    return np.clip(power, 0.05, 0.95)


def nash_price(firm_reservation: ArrayLike, provider_reservation: ArrayLike, power: ArrayLike) -> NDArray[np.float64]:
    """Negotiated price per hour; NaN where the reservation prices cross (no deal).

    Args:
        firm_reservation: highest price the firm accepts.
        provider_reservation: lowest price the provider accepts.
        power: provider's bargaining power in [0, 1].
    """
    rf = np.asarray(firm_reservation, dtype=float)
    rp = np.asarray(provider_reservation, dtype=float)
    price = rp + np.asarray(power, dtype=float) * (rf - rp)
    return np.where(rf >= rp, price, np.nan)
