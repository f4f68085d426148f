"""The contract book: the permanent contract of each firm-service, and the ledger of every change.

A firm-service holds at most one permanent contract at a time. Current terms live in per-slot arrays
(for the vectorised weekly delivery); every state change (signed, renewed, expired, terminated,
provider_exit) is a ledger row checked against the state machine in ledger.py, so an invalid transition
fails loudly instead of corrupting the ledger. Rows are kept in columns, a batch per call, and read back
as :class:`~simulation.model.ledger.ContractEvent` values (``events``, ``last_events``) or as one table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.model import kernels
from simulation.model.codes import Channel, Form, Mode
from simulation.model.ledger import (STATUS_AFTER, VALID_TRANSITIONS, Contract, ContractEvent, ContractEventKind,
                                     ContractStatus, next_status)

KINDS = tuple(ContractEventKind)
STATUSES = tuple(ContractStatus)
#: ALLOWED[status code, event code]: whether the state machine allows the event from the status.
ALLOWED = np.array([[kind in VALID_TRANSITIONS[status] for kind in KINDS] for status in STATUSES])
AFTER = np.array([STATUSES.index(STATUS_AFTER[kind]) for kind in KINDS], np.int8)
KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}  # a dict: tuple.index compares enum texts one by one
LEDGER = ("week", "contract_id", "event", "firm_id", "provider_id", "service", "channel", "price_per_hour",
          "reserved_hours_per_week", "end_week", "reason")

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
        self._status = np.zeros(64, np.int8)  # per contract id: code in STATUSES (NONE before signing)
        self._rows: list[dict[str, np.ndarray]] = []  # ledger batches, columns of LEDGER as codes
        self._reasons: list[str] = []  # reason texts, by code
        self._reason_code: dict[str, int] = {}  # and the code of each text
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
        """Whether each slot holds a running contract (computed over every slot: see :meth:`holds`)."""
        return self.contract_id >= 0

    def holds(self, s: NDArray[np.integer] | int) -> NDArray[np.bool_] | np.bool_:
        """``active[s]``, reading the slots ``s`` only (``active`` compares every slot of the market)."""
        return self.contract_id[s] >= 0

    def committed(self, n_providers: int) -> NDArray[np.float64]:
        """Reserved hours per provider under active contracts (one compiled pass)."""
        return kernels.committed_hours(self.contract_id, self.provider, self.reserved, n_providers)

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
        """One ledger row per slot; ``reason`` is one text for all or one per slot."""
        slots = np.asarray(slots, np.int64)
        cid = self.contract_id[slots]
        if len(cid) and cid.max() >= len(self._status):
            self._status = np.r_[self._status, np.zeros(max(cid.max() + 1, 2 * len(self._status)) - len(self._status), np.int8)]
        code = KIND_CODE[kind]
        bad = ~ALLOWED[self._status[cid], code]
        if bad.any() or len(np.unique(cid)) < len(cid):  # a contract twice in one batch: check it event by event
            status = {int(c): STATUSES[self._status[c]] for c in cid}
            for c in cid.tolist():
                status[c] = next_status(status[c], kind)  # raises InvalidTransition
        self._status[cid] = AFTER[code]
        if not self.keep_events:
            return
        self._rows.append({
            "week": np.full(len(slots), week, np.int64), "contract_id": cid.copy(),
            "event": np.full(len(slots), code, np.int8), "firm_id": self._firm[slots].astype(np.int64),
            "provider_id": self.provider[slots].copy(), "service": self._slot_service[slots].astype(np.int64),
            "channel": self.channel[slots].copy(), "price_per_hour": self.price[slots].astype(float),
            "reserved_hours_per_week": self.reserved[slots].astype(float), "end_week": self.end[slots].copy(),
            "reason": self._reason_codes(reason, len(slots))})

    def _reason_codes(self, reason: str | NDArray, n: int) -> NDArray[np.int64]:
        """The code of each of ``n`` rows' reason (one text for all, or one per row), new texts coded as they come."""
        if isinstance(reason, str):
            return np.full(n, self._code_of(reason), np.int64)
        texts, inverse = np.unique(np.asarray(reason, dtype=str), return_inverse=True)
        return np.array([self._code_of(str(text)) for text in texts], np.int64)[inverse]

    def _code_of(self, text: str) -> int:
        if text not in self._reason_code:
            self._reason_code[text] = len(self._reasons)
            self._reasons.append(text)
        return self._reason_code[text]

    def _columns(self) -> dict[str, np.ndarray]:
        """The ledger's columns (codes), concatenated once and kept as the only batch."""
        if len(self._rows) != 1:
            empty = {"week": np.int64, "contract_id": np.int64, "event": np.int8, "firm_id": np.int64,
                     "provider_id": np.int64, "service": np.int64, "channel": np.int8, "price_per_hour": float,
                     "reserved_hours_per_week": float, "end_week": np.int64, "reason": np.int64}
            self._rows = [{c: np.concatenate([b[c] for b in self._rows]) if self._rows else np.empty(0, t)
                           for c, t in empty.items()}]
        return self._rows[0]

    def __len__(self) -> int:
        """Rows in the ledger so far."""
        return sum(len(b["week"]) for b in self._rows)

    def last_events(self, n: int) -> list[ContractEvent]:
        """The ``n`` latest ledger rows, oldest first."""
        cols = self._columns()
        start = max(len(cols["week"]) - max(n, 0), 0)
        return [ContractEvent(week=int(cols["week"][i]), contract_id=int(cols["contract_id"][i]),
                              event=KINDS[cols["event"][i]], firm_id=int(cols["firm_id"][i]),
                              provider_id=int(cols["provider_id"][i]), service=self._service[cols["service"][i]],
                              channel=Channel(int(cols["channel"][i])), price_per_hour=float(cols["price_per_hour"][i]),
                              reserved_hours_per_week=float(cols["reserved_hours_per_week"][i]),
                              end_week=int(cols["end_week"][i]), reason=self._reasons[cols["reason"][i]])
                for i in range(start, len(cols["week"]))] if n > 0 else []

    @property
    def events(self) -> list[ContractEvent]:
        """Every ledger row, oldest first, as values."""
        return self.last_events(len(self))

    def to_frame(self) -> pd.DataFrame:
        """The ledger as a table (one row per event), in the order events happened."""
        cols = self._columns()
        channel = {int(c): c.name.lower() for c in Channel}
        labels = {"event": [k.value for k in KINDS], "service": list(self._service), "reason": self._reasons,
                  "channel": [channel.get(v, "") for v in range(max(channel) + 1)]}
        data = {c: np.array(labels[c], dtype=object)[cols[c]] if c in labels else cols[c] for c in LEDGER}
        return pd.DataFrame(data, columns=list(LEDGER)).astype(dict.fromkeys(labels, "str"))  # text even when empty


def end_contracts(book: ContractBook, spells: SpellTracker, slots: FirmSlots, rows: NDArray, kind: ContractEventKind,
                  reason: str, week: int) -> None:
    """End the contracts of slots ``rows`` and their permanent spells; the slots drop to on-call until they re-source."""
    spells.close(Form.PERMANENT, rows, book.k[rows])
    book.close(week, rows, kind, reason)
    slots.mode[rows] = Mode.ON_CALL
