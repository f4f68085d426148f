"""Relationship spells: one record per firm-provider-service-form run of work.

On-call work is too frequent to log weekly, so it is recorded per spell: a spell opens with the first
week of work and ends after ``gap_weeks`` without work. A permanent spell runs from signing through any
renewals to the contract's end. Spells still open at the horizon are written as right-censored.

A closed spell is final, so a run that writes its folder as it goes takes the closed spells out week by
week (:meth:`SpellTracker.take`); a run that records no relationships keeps none (``keep=False``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.model import kernels
from simulation.model.codes import Channel, Form, labels

FORMS = labels(Form)  # ("on_call", "permanent"): the form codes of the tracker's first axis


class SpellTracker:
    """Open spells per (slot, candidate column, form), and the closed ones so far."""

    def __init__(self, n_slots: int, n_cols: int, gap_weeks: int, keep: bool = True) -> None:
        shape = (len(Form), n_slots, n_cols)
        self.gap = gap_weeks
        self.keep = keep  # keep the closed spells (relationships.parquet); the open ones are state either way
        self.open = np.zeros(shape, bool)
        self.provider = np.full(shape, -1, np.int64)
        self.start = np.zeros(shape, np.int64)
        self.last = np.zeros(shape, np.int64)
        self.volume = np.zeros(shape)
        self.spend = np.zeros(shape)
        self.channel = np.zeros(shape, np.int8)
        self._closed: list[dict[str, NDArray]] = []

    def record(self, week: int, form: Form, s: NDArray, k: NDArray, provider: NDArray, volume: NDArray,
               spend: NDArray, channel: NDArray) -> NDArray[np.bool_]:
        """Add a week of work for distinct (slot, column) pairs; returns which pairs opened a new spell."""
        f = int(form)
        return kernels.record_spell_week(*self._form(f), week, s, k, provider, volume, spend, channel)

    def record_on_call(self, week: int, served: NDArray, spend: NDArray, provider: NDArray, channel: NDArray,
                       eps: float) -> None:
        """Add the week's on-call work of every (slot, column) pair with more than ``eps`` hours (``served``,
        ``spend`` and ``provider``: (slots, K); ``channel`` per slot), then end the on-call spells that have had
        no work for more than ``gap`` weeks (one compiled pass, :func:`kernels.record_on_call_week`)."""
        f = int(Form.ON_CALL)
        s, k = kernels.record_on_call_week(*self._form(f), week, served, spend, provider, channel, eps, self.gap)
        if len(s):
            self._close(f, s, k, censored=False)

    def _form(self, f: int) -> tuple[NDArray, ...]:
        """One form's (slots, K) arrays, in the order the bookkeeping kernels take them."""
        return (self.open[f], self.provider[f], self.start[f], self.last[f], self.volume[f], self.spend[f],
                self.channel[f])

    def close(self, form: Form, s: NDArray, k: NDArray) -> None:
        """End the open spells of the given pairs (provider replaced, contract ended)."""
        f = int(form)
        s, k = np.asarray(s, np.int64), np.asarray(k, np.int64)
        keep = self.open[f, s, k]
        if keep.any():
            self._close(f, s[keep], k[keep], censored=False)

    def close_column(self, s: NDArray, k: NDArray) -> None:
        """End every form's spell for pairs whose provider is replaced."""
        self.close(Form.ON_CALL, s, k)
        self.close(Form.PERMANENT, s, k)

    def finish(self) -> None:
        """Write every spell still open at the horizon as right-censored."""
        for f in Form:
            s, k = np.nonzero(self.open[f])
            if len(s):
                self._close(f, s, k, censored=True)

    def _close(self, f: int, s: NDArray, k: NDArray, censored: bool) -> None:
        if self.keep:
            self._closed.append({
                "slot": s.copy(), "provider_id": self.provider[f, s, k].copy(),
                "form": np.full(len(s), f, np.int8), "channel": self.channel[f, s, k].copy(),
                "start_week": self.start[f, s, k].copy(), "end_week": self.last[f, s, k].copy(),
                "volume_hours": self.volume[f, s, k].copy(), "spend": self.spend[f, s, k].copy(),
                "censored": np.full(len(s), censored),
            })
        self.open[f, s, k] = False

    def take(self) -> dict[str, NDArray] | None:
        """Hand out the spells closed so far, in closing order, and forget them; None when there are none."""
        if not self._closed:
            return None
        cat = {key: np.concatenate([c[key] for c in self._closed]) for key in self._closed[0]}
        self._closed = []
        return cat

    def to_frame(self, slot_firm: NDArray, slot_service: NDArray, service_names: tuple[str, ...]) -> pd.DataFrame:
        """Closed spells (those not handed out by :meth:`take`) as relationships.parquet's table, in closing order."""
        cat = self.take()
        if cat is not None:
            self._closed = [cat]  # keep one concatenated chunk, not both
        return spell_frame(cat, slot_firm, slot_service, service_names)


def spell_frame(cat: dict[str, NDArray] | None, slot_firm: NDArray, slot_service: NDArray,
                service_names: tuple[str, ...]) -> pd.DataFrame:
    """relationships.parquet's table of closed spells (as :meth:`SpellTracker.take` gives them); None: no spells."""
    if cat is None:
        empty = np.empty(0, np.int64)
        cat = {"slot": empty, "provider_id": empty, "form": empty, "channel": empty, "start_week": empty,
               "end_week": empty, "volume_hours": np.empty(0), "spend": np.empty(0), "censored": np.empty(0, bool)}
    return pd.DataFrame({
        "firm_id": slot_firm[cat["slot"]].astype(np.int64),
        "provider_id": cat["provider_id"],
        "service": pd.Categorical.from_codes(slot_service[cat["slot"]], categories=service_names),
        "form": pd.Categorical.from_codes(cat["form"], categories=FORMS),
        "channel": pd.Categorical.from_codes(cat["channel"], categories=labels(Channel)),
        "start_week": cat["start_week"],
        "end_week": cat["end_week"],
        "weeks": cat["end_week"] - cat["start_week"] + 1,
        "volume_hours": cat["volume_hours"],
        "spend": cat["spend"],
        "censored": cat["censored"],
    })
