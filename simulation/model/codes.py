"""The codes the model's arrays hold, as IntEnums: service kinds, regions, sourcing modes, contract forms,
channels, the five sourcing options of a review and the outcomes a review can have.

Arrays store them as small integers for speed; code compares them with the members (``kind == Kind.KPO``),
never with bare numbers, and :func:`labels` turns codes into the lower-case labels that output tables use.
"""

from __future__ import annotations

from enum import IntEnum


def labels(enum: type[IntEnum]) -> tuple[str, ...]:
    """Lower-case member names indexed by value (values must be 0..n-1): code -> label lookups."""
    out = [""] * len(enum)
    for member in enum:
        out[member.value] = member.name.lower()
    return tuple(out)


class Kind(IntEnum):
    """Service kind: task completion (BPO) or expertise (KPO); also the kind of a provider."""

    BPO = 0
    KPO = 1


class Region(IntEnum):
    """Where a firm or provider is located."""

    DOMESTIC = 0
    OFFSHORE = 1


REGIONS = labels(Region)  # ("domestic", "offshore"): the region names of the config


class Mode(IntEnum):
    """How a firm sources one service."""

    IN_HOUSE = 0
    ON_CALL = 1
    PERMANENT = 2


class Form(IntEnum):
    """Contract form of outsourced work (the form of a relationship spell)."""

    ON_CALL = 0
    PERMANENT = 1


class Channel(IntEnum):
    """Whether the firm deals with the provider directly or through a broker."""

    DIRECT = 0
    BROKER = 1


class SourcingOption(IntEnum):
    """The options a firm-service compares at a review (columns of the option cost matrix)."""

    IN_HOUSE = 0
    ON_CALL = 1
    ON_CALL_BROKER = 2
    PERMANENT = 3
    PERMANENT_BROKER = 4


OPTIONS = labels(SourcingOption)
PERMANENT_OPTIONS = (SourcingOption.PERMANENT, SourcingOption.PERMANENT_BROKER)
ON_CALL_OPTIONS = (SourcingOption.ON_CALL, SourcingOption.ON_CALL_BROKER)


class ReviewOutcome(IntEnum):
    """What came of a review: the option taken, or what happened to the permanent contract it wanted."""

    IN_HOUSE = 0
    ON_CALL = 1
    ON_CALL_BROKER = 2
    KEPT = 3  # a holder in mid-term kept its contract
    RENEWED = 4
    SIGNED = 5
    NO_CAPACITY = 6  # the provider had no free capacity left for the reserved hours
    NO_DEAL = 7  # chose a permanent option with no deal on the table (falls back to on-call)
