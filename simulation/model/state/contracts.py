"""The contract book: the permanent contract of each firm-service, and the ledger of every change.

A firm-service holds at most one permanent contract at a time. Current terms live in per-slot arrays
(for the vectorised weekly delivery); every state change (signed, renewed, expired, terminated,
provider_exit) is a :class:`~simulation.model.ledger.ContractEvent` checked against the state machine in
ledger.py, so an invalid transition fails loudly instead of corrupting the ledger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.model.codes import Channel, Form, Mode
from simulation.model.ledger import Contract, ContractEvent, ContractEventKind, ContractStatus, next_status

if TYPE_CHECKING:
    from simulation.model.state.slots import FirmSlots
    from simulation.model.state.spells import SpellTracker


class ContractBook:
    """Active permanent contracts by firm-service, plus the full event ledger."""

    def __init__(self, n_slots: int, keep_events: bool = True) -> None:
        self.k = np.full(n_slots, -1, np.int64)  # consideration-set column of the provider
        self.provider = np.full(n_slots, -1, np.int64)
        self.contract_id = np.full(n_slots, -1, np.int64)
        self.price = np.zeros(n_slots)
        self.reserved = np.zeros(n_slots)
        self.start = np.zeros(n_slots, np.int64)
        self.end = np.zeros(n_slots, np.int64)
        self.channel = np.zeros(n_slots, np.int8)
        self.exit_fee = np.zeros(n_slots)
        self.status: dict[int, ContractStatus] = {}
        self.events: list[ContractEvent] = []
        self.keep_events = keep_events  # keep the ledger (contracts.parquet); the state machine is checked either way
        self._next_id = 0
        self._firm: NDArray[np.int64] | None = None
        self._service: tuple[str, ...] = ()
        self._slot_service: NDArray[np.int64] | None = None

    def bind(self, slot_firm: NDArray[np.int64], slot_service: NDArray[np.int64], service_names: tuple[str, ...]) -> None:
        """Tell the book which firm and service each slot is (for ledger rows)."""
        self._firm, self._slot_service, self._service = slot_firm, slot_service, service_names

    @property
    def active(self) -> NDArray[np.bool_]:
        return self.contract_id >= 0

    def committed(self, n_providers: int) -> NDArray[np.float64]:
        """Reserved hours per provider under active contracts."""
        act = self.active
        return np.bincount(self.provider[act], weights=self.reserved[act], minlength=n_providers)

    def contract(self, slot: int) -> Contract | None:
        """Current terms of a slot's contract as a value object."""
        if self.contract_id[slot] < 0:
            return None
        return Contract(int(self.contract_id[slot]), int(self._firm[slot]), int(self.provider[slot]),
                        self._service[self._slot_service[slot]], Channel(int(self.channel[slot])),
                        float(self.price[slot]), float(self.reserved[slot]), int(self.start[slot]),
                        int(self.end[slot]), float(self.exit_fee[slot]))

    def sign(self, week: int, slots: NDArray, k: NDArray, provider: NDArray, price: NDArray, reserved: NDArray,
             term: NDArray, channel: NDArray, exit_fee_weeks: float, reason: str | NDArray) -> None:
        if np.any(self.active[slots]):
            raise RuntimeError("signing over an active contract")
        ids = np.arange(self._next_id, self._next_id + len(slots))
        self._next_id += len(slots)
        self.contract_id[slots] = ids
        self.k[slots], self.provider[slots] = k, provider
        self._set_terms(week, slots, price, reserved, term, exit_fee_weeks)
        self.start[slots] = week
        self.channel[slots] = channel
        self._log(week, slots, ContractEventKind.SIGNED, reason)

    def renew(self, week: int, slots: NDArray, price: NDArray, reserved: NDArray, term: NDArray,
              exit_fee_weeks: float, reason: str) -> None:
        self._set_terms(week, slots, price, reserved, term, exit_fee_weeks)
        self._log(week, slots, ContractEventKind.RENEWED, reason)

    def close(self, week: int, slots: NDArray, kind: ContractEventKind, reason: str) -> None:
        """End contracts (expired, terminated or provider exit) and free their slots."""
        self.end[slots] = np.minimum(self.end[slots], week)
        self._log(week, slots, kind, reason)
        self.contract_id[slots] = -1
        self.k[slots] = -1
        self.provider[slots] = -1
        self.reserved[slots] = 0.0

    def _set_terms(self, week: int, slots: NDArray, price: NDArray, reserved: NDArray, term: NDArray,
                   exit_fee_weeks: float) -> None:
        self.price[slots], self.reserved[slots] = price, reserved
        self.end[slots] = week + term
        self.exit_fee[slots] = exit_fee_weeks * price * reserved

    def _log(self, week: int, slots: NDArray, kind: ContractEventKind, reason: str | NDArray) -> None:
        """One ledger event per slot; ``reason`` is one text for all or one per slot."""
        reasons = np.broadcast_to(np.asarray(reason, dtype=object), (len(slots),))
        for s, why in zip(np.asarray(slots, np.int64).tolist(), reasons):
            cid = int(self.contract_id[s])
            self.status[cid] = next_status(self.status.get(cid, ContractStatus.NONE), kind)
            if not self.keep_events:
                continue
            self.events.append(ContractEvent(
                week=week, contract_id=cid, event=kind, firm_id=int(self._firm[s]), provider_id=int(self.provider[s]),
                service=self._service[self._slot_service[s]], channel=Channel(int(self.channel[s])),
                price_per_hour=float(self.price[s]), reserved_hours_per_week=float(self.reserved[s]),
                end_week=int(self.end[s]), reason=str(why)))

    def to_frame(self) -> pd.DataFrame:
        """The ledger as a table (one row per event), in the order events happened."""
        cols = ["week", "contract_id", "event", "firm_id", "provider_id", "service", "channel",
                "price_per_hour", "reserved_hours_per_week", "end_week", "reason"]
        rows = [(e.week, e.contract_id, e.event.value, e.firm_id, e.provider_id, e.service,
                 Channel(e.channel).name.lower(), e.price_per_hour, e.reserved_hours_per_week, e.end_week, e.reason)
                for e in self.events]
        df = pd.DataFrame(rows, columns=cols)
        return df.astype({"week": "int64", "contract_id": "int64", "firm_id": "int64", "provider_id": "int64",
                          "price_per_hour": "float64", "reserved_hours_per_week": "float64", "end_week": "int64",
                          **dict.fromkeys(("event", "service", "channel", "reason"), "str")})  # text even when empty


def end_contracts(book: ContractBook, spells: SpellTracker, slots: FirmSlots, rows: NDArray, kind: ContractEventKind,
                  reason: str, week: int) -> None:
    """End the contracts of slots ``rows`` and their permanent spells; the slots drop to on-call until they re-source."""
    spells.close(Form.PERMANENT, rows, book.k[rows])
    book.close(week, rows, kind, reason)
    slots.mode[rows] = Mode.ON_CALL
