"""The contract ledger: columnar rows, the state machine enforced on every batch, and its readers."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.model.codes import Channel
from simulation.model.ledger import ContractEventKind, InvalidTransition
from simulation.model.state.contracts import ContractBook


def book_with_contracts(n: int = 4) -> ContractBook:
    book = ContractBook(n)
    book.bind(np.arange(n) // 2, np.arange(n) % 2, ("research", "back_office"))
    slots = np.arange(n)
    book.sign(3, slots, np.zeros(n, np.int64), slots + 10, np.full(n, 20.0), np.full(n, 5.0), np.full(n, 52),
              np.array([Channel.DIRECT, Channel.BROKER] * (n // 2)), 4.0, "cheapest")
    return book


def test_every_change_is_a_row_with_the_terms_at_that_moment():
    book = book_with_contracts()
    book.renew(10, np.array([1]), np.array([22.0]), np.array([6.0]), np.array([104]), 4.0, "renewal")
    book.close(20, np.array([0, 1]), ContractEventKind.EXPIRED, "term ended")
    df = book.to_frame()
    assert list(df["event"]) == ["signed"] * 4 + ["renewed", "expired", "expired"]
    assert list(df["contract_id"]) == [0, 1, 2, 3, 1, 0, 1]
    assert list(df["channel"]) == ["direct", "broker", "direct", "broker", "broker", "direct", "broker"]
    assert list(df["service"][:2]) == ["research", "back_office"] and list(df["firm_id"][:4]) == [0, 0, 1, 1]
    renewed = df.iloc[4]
    assert (renewed["price_per_hour"], renewed["reserved_hours_per_week"], renewed["end_week"]) == (22.0, 6.0, 114)
    assert list(df["reason"]) == ["cheapest"] * 4 + ["renewal", "term ended", "term ended"]
    assert df.dtypes["week"] == np.int64 and df.dtypes["price_per_hour"] == np.float64
    assert [e.event.value for e in book.events] == list(df["event"])
    latest = book.last_events(2)
    assert [(e.contract_id, e.event) for e in latest] == [(0, ContractEventKind.EXPIRED), (1, ContractEventKind.EXPIRED)]
    assert book.last_events(0) == [] and len(book) == 7


def test_an_event_the_state_machine_forbids_fails_loudly():
    book = book_with_contracts()
    book.close(20, np.array([2]), ContractEventKind.TERMINATED, "left")
    book.contract_id[2] = 2  # pretend the slot still pointed at the ended contract
    with pytest.raises(InvalidTransition, match="'renewed' is not allowed from status 'terminated'"):
        book.renew(21, np.array([2]), np.array([1.0]), np.array([1.0]), np.array([52]), 4.0, "renewal")


def test_the_same_contract_twice_in_one_batch_is_checked_event_by_event():
    book = book_with_contracts()
    with pytest.raises(InvalidTransition, match="'expired' is not allowed from status 'expired'"):
        book.close(20, np.array([3, 3]), ContractEventKind.EXPIRED, "twice")


def test_an_empty_ledger_is_an_empty_table_with_the_columns():
    book = ContractBook(2)
    book.bind(np.arange(2), np.zeros(2, np.int64), ("research",))
    df = book.to_frame()
    assert len(df) == 0 and list(df.columns)[:3] == ["week", "contract_id", "event"] and book.events == []


def test_a_reason_per_row_keeps_each_rows_text_beside_one_text_for_all():
    """Reasons given per row (repeated, new and already known texts mixed, in any order) come out row by row."""
    book = ContractBook(6)
    book.bind(np.arange(6), np.zeros(6, np.int64), ("research",))
    book.sign(1, np.arange(3), np.zeros(3, np.int64), np.arange(3), np.ones(3), np.ones(3), np.full(3, 52),
              np.zeros(3, np.int8), 4.0, "outsourced in-house work")
    per_row = np.array(["replaced the previous contract", "outsourced in-house work", "replaced the previous contract"])
    book.sign(2, np.arange(3, 6), np.zeros(3, np.int64), np.arange(3), np.ones(3), np.ones(3), np.full(3, 52),
              np.zeros(3, np.int8), 4.0, per_row)
    book.close(3, np.array([], np.int64), ContractEventKind.EXPIRED, "nothing ends")  # an empty batch is no row
    assert list(book.to_frame()["reason"]) == ["outsourced in-house work"] * 3 + list(per_row)
    assert [e.reason for e in book.last_events(3)] == list(per_row)


def test_holds_reads_the_given_slots_as_the_full_active_mask_does():
    book = book_with_contracts(6)
    book.close(20, np.array([1, 4]), ContractEventKind.EXPIRED, "term ended")
    s = np.array([5, 1, 4, 0, 1])
    np.testing.assert_array_equal(book.holds(s), book.active[s])
    assert list(book.holds(s)) == [True, False, False, True, False]
    assert book.holds(3) and not book.holds(4)
