"""core.model: the request lifecycle (docs/architecture.md), pair by pair."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest

from core.model import (
    FINAL_STATES,
    TRANSITIONS,
    AccessRequest,
    Kind,
    LevelSnapshot,
    Node,
    State,
    can_transition,
    new_request_id,
)

# The lifecycle, written out independently of core.model:
#   pending → approved → active → expired | revoked; pending → rejected | cancelled | timed_out;
#   approved → failed (the grant could not be applied);
#   pending | approved → revoked (a revoker ended it before access: issue 14, ``core.revokers``);
#   approved → cancelled (the requester withdrew scheduled access before its start: issue 18, ``core.schedule``).
DESIGN_EDGES = {
    ("pending", "revoked"),
    ("approved", "revoked"),
    ("pending", "approved"),
    ("approved", "active"),
    ("active", "expired"),
    ("active", "revoked"),
    ("pending", "rejected"),
    ("pending", "cancelled"),
    ("pending", "timed_out"),
    ("approved", "failed"),
    ("approved", "cancelled"),
}
DESIGN_STATES = {"pending", "approved", "active", "expired", "revoked", "rejected", "cancelled", "timed_out", "failed"}
DESIGN_FINAL = {"expired", "revoked", "rejected", "cancelled", "timed_out", "failed"}


def test_states_are_exactly_those_of_the_design() -> None:
    assert {s.value for s in State} == DESIGN_STATES


@pytest.mark.parametrize(("source", "target"), list(itertools.product(State, State)), ids=str)
def test_can_transition_matches_the_design(source: State, target: State) -> None:
    assert can_transition(source, target) is ((source.value, target.value) in DESIGN_EDGES)


def test_transition_table_has_exactly_the_design_edges() -> None:
    edges = {(s.value, t.value) for s, targets in TRANSITIONS.items() for t in targets}
    assert edges == DESIGN_EDGES


@pytest.mark.parametrize("state", sorted(DESIGN_FINAL))
def test_final_states_have_no_exits(state: str) -> None:
    final = State(state)
    assert final.is_final
    assert final in FINAL_STATES
    assert not TRANSITIONS.get(final)
    assert not any(can_transition(final, target) for target in State)


@pytest.mark.parametrize("state", sorted(DESIGN_STATES - DESIGN_FINAL))
def test_live_states_are_not_final_and_have_exits(state: str) -> None:
    live = State(state)
    assert not live.is_final
    assert any(can_transition(live, target) for target in State)


def test_final_states_constant() -> None:
    assert {s.value for s in FINAL_STATES} == DESIGN_FINAL


def test_no_self_transitions() -> None:
    assert not any(can_transition(s, s) for s in State)


def test_every_state_is_reachable_from_pending() -> None:
    reached = {State.PENDING}
    frontier = [State.PENDING]
    while frontier:
        here = frontier.pop()
        for target in State:
            if can_transition(here, target) and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State)


def test_nothing_leads_back_to_pending() -> None:
    assert not any(can_transition(s, State.PENDING) for s in State)


def test_states_compare_as_their_strings() -> None:
    assert State("timed_out") is State.TIMED_OUT
    assert State.PENDING.value == str(State.PENDING) == "pending"


# --- AccessRequest.level and request ids ---------------------------------------------------------


def request(state: State, current_level: int = 0, levels: int = 2) -> AccessRequest:
    return AccessRequest(
        id="R0000000A",
        requester="U0ALICE01",
        principal_arn="arn:aws:iam::111122223333:role/alice",
        node=Node("i-0123456789abcdef0", "111122223333", "eu-west-1"),
        reason="disk full",
        duration=timedelta(hours=1),
        policy="prod",
        kind=Kind.MANUAL,
        levels=tuple(LevelSnapshot(f"L{i}", "C0APPR001", ("U0APPR001",), 1) for i in range(levels)),
        state=state,
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        current_level=current_level,
    )


def test_level_is_the_waiting_level_while_pending() -> None:
    assert request(State.PENDING, 0).level == LevelSnapshot("L0", "C0APPR001", ("U0APPR001",), 1)
    level = request(State.PENDING, 1).level
    assert level is not None
    assert level.name == "L1"
    assert request(State.PENDING, 2).level is None
    assert request(State.PENDING, 0, levels=0).level is None


@pytest.mark.parametrize("state", [s for s in State if s is not State.PENDING])
def test_no_level_waits_outside_pending(state: State) -> None:
    assert request(state).level is None


def test_with_changes_returns_a_new_request() -> None:
    before = request(State.PENDING)
    after = before.with_changes(state=State.APPROVED)
    assert after.state is State.APPROVED
    assert before.state is State.PENDING


def test_new_request_id_shape() -> None:
    ids = {new_request_id() for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        assert re.fullmatch(r"R[0-9A-HJKMNP-TV-Z]{8}", value), value
