"""Quality and on-time delivery of a week's work, per (firm-service, provider) pair.

Both worsen when the provider is overloaded (utilisation above a threshold) and improve with the
client-specific experience the provider has built (relationship-specific learning, Williamson 1985):
experience closes part of the gap to perfect quality and removes part of the base lateness, up to the
service's learning strength. Late work is as costly to the firm as faulty work, so what the firm
experiences (and learns from) is the effective quality = quality x on-time share.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulation.config import ProviderConfig


def delivered_quality(reliability: NDArray, load_excess: NDArray, experience: NDArray, learning: NDArray,
                      noise: NDArray, p: ProviderConfig) -> NDArray[np.float64]:
    """Quality in [0, 1]: base reliability, raised by client experience, lowered by overload, plus noise."""
    q = reliability + (1.0 - reliability) * learning * experience - p.overload_quality_loss * load_excess
    return np.clip(q + noise, 0.0, 1.0)


def on_time_share(load_excess: NDArray, experience: NDArray, learning: NDArray, p: ProviderConfig) -> NDArray[np.float64]:
    """Share of the hours delivered on time: base lateness (cut by client experience) plus overload delays."""
    late = p.late_base_rate * (1.0 - learning * experience) + p.overload_lateness * load_excess
    return np.clip(1.0 - late, 0.0, 1.0)
