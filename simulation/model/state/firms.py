"""The firm table: each client firm's size and home region (its services are its rows of the slot table)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

SIZE_CLASSES = ("small", "medium", "large")  # terciles of firm size


@dataclass(frozen=True)
class FirmTable:
    """One row per firm."""

    size: NDArray[np.float64]  # size units (mean weekly demand of a service scales with it)
    region: NDArray[np.int8]  # Region

    def __len__(self) -> int:
        return len(self.size)

    def size_class(self) -> NDArray[np.str_]:
        """"small", "medium" or "large" per firm: terciles of size."""
        q = np.quantile(self.size, [1 / 3, 2 / 3]) if len(self) else np.zeros(2)
        return np.select([self.size <= q[0], self.size <= q[1]], list(SIZE_CLASSES[:2]), SIZE_CLASSES[2])
