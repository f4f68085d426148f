"""The contract ledger's vocabulary: contract states, ledger events and the state machine between them.

Contracts are plain values, not agents. Every state change of a permanent contract is one
:class:`ContractEvent` with its reason; :data:`VALID_TRANSITIONS` is the state machine the ledger
enforces. On-call work is recorded per relationship spell instead (state/spells.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from simulation.model.codes import Channel


class ContractStatus(StrEnum):
    """States of a permanent contract."""

    NONE = "none"
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    PROVIDER_EXIT = "provider_exit"


class ContractEventKind(StrEnum):
    """What happened to a permanent contract in one ledger event."""

    SIGNED = "signed"
    RENEWED = "renewed"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    PROVIDER_EXIT = "provider_exit"


#: Status a contract has after each kind of event.
STATUS_AFTER: dict[ContractEventKind, ContractStatus] = {
    ContractEventKind.SIGNED: ContractStatus.ACTIVE,
    ContractEventKind.RENEWED: ContractStatus.ACTIVE,
    ContractEventKind.EXPIRED: ContractStatus.EXPIRED,
    ContractEventKind.TERMINATED: ContractStatus.TERMINATED,
    ContractEventKind.PROVIDER_EXIT: ContractStatus.PROVIDER_EXIT,
}

#: Events allowed from each status. Ended contracts accept nothing.
VALID_TRANSITIONS: dict[ContractStatus, frozenset[ContractEventKind]] = {
    ContractStatus.NONE: frozenset({ContractEventKind.SIGNED}),
    ContractStatus.ACTIVE: frozenset(
        {ContractEventKind.RENEWED, ContractEventKind.EXPIRED, ContractEventKind.TERMINATED, ContractEventKind.PROVIDER_EXIT}
    ),
    ContractStatus.EXPIRED: frozenset(),
    ContractStatus.TERMINATED: frozenset(),
    ContractStatus.PROVIDER_EXIT: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A ledger event that the contract state machine does not allow."""


def next_status(status: ContractStatus, event: ContractEventKind) -> ContractStatus:
    """Status after ``event``; raises :class:`InvalidTransition` if the event is not allowed."""
    if event not in VALID_TRANSITIONS[status]:
        raise InvalidTransition(f"event {event.value!r} is not allowed from status {status.value!r}")
    return STATUS_AFTER[event]


@dataclass(frozen=True, slots=True)
class Contract:
    """Terms of one permanent contract (the current terms; renewals re-price it)."""

    contract_id: int
    firm_id: int
    provider_id: int
    service: str
    channel: Channel
    price_per_hour: float
    reserved_hours_per_week: float
    start_week: int
    end_week: int
    early_exit_fee: float


@dataclass(frozen=True, slots=True)
class ContractEvent:
    """One row of the contract ledger."""

    week: int
    contract_id: int
    event: ContractEventKind
    firm_id: int
    provider_id: int
    service: str
    channel: Channel
    price_per_hour: float
    reserved_hours_per_week: float
    end_week: int
    reason: str
