"""The failpoints of the crash tests are inert unless asked for, refuse unknown names, and stop exactly where
they say (here with a recording ``crash`` instead of the process exit, around a real in-memory backend)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.failpoints import ENV, CrashingAccess, parse, wrap
from core.model import AccessRequest, Kind, Node, State


class Backend:
    """A minimal AccessBackend that remembers what it did."""

    def __init__(self) -> None:
        self.done: list[str] = []

    def grant(self, request: AccessRequest, expires_at: datetime, documents: Sequence[str]) -> None:
        self.done.append("grant")

    def revoke(self, request: AccessRequest) -> int:
        self.done.append("revoke")
        return 2

    def has_grant(self, request: AccessRequest) -> bool:
        return "grant" in self.done

    def jit_policies(self, principal_arn: str) -> list[str]:
        return ["jitbot-R1"]

    def delete_policy(self, principal_arn: str, policy_name: str) -> None:
        self.done.append("delete")

    def jit_principals(self) -> list[str]:
        return []


REQUEST = AccessRequest(id="R1", requester="U1", principal_arn="arn:aws:iam::123456789012:role/x",
                        node=Node("i-0123456789abcdef0", "123456789012", "us-east-1"), reason="r",
                        duration=timedelta(hours=1), policy="p", kind=Kind.MANUAL, levels=(), state=State.APPROVED,
                        created_at=datetime(2024, 1, 1, tzinfo=UTC))


def test_inert_unless_the_variable_names_points() -> None:
    backend = Backend()
    assert wrap(backend, {}) is backend
    assert wrap(backend, {ENV: ""}) is backend
    assert wrap(backend, {ENV: " , "}) is backend
    assert isinstance(wrap(backend, {ENV: "grant.after"}), CrashingAccess)


def test_an_unknown_point_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown failpoint"):
        parse("grant.before,grant.during")


@pytest.mark.parametrize(("point", "done"), [("grant.before", []), ("grant.after", ["grant"]),
                                             ("revoke.before", ["grant"]), ("revoke.after", ["grant", "revoke"])])
def test_it_stops_exactly_there(point: str, done: list[str]) -> None:
    class Stopped(Exception):
        pass

    def crash(at: str) -> None:
        raise Stopped(at)

    backend = Backend()
    access = CrashingAccess(backend, parse(point), crash)

    def lifecycle() -> None:
        access.grant(REQUEST, REQUEST.created_at + REQUEST.duration, ["SSM-SessionManagerRunShell"])
        access.revoke(REQUEST)

    with pytest.raises(Stopped, match=point):
        lifecycle()
    assert backend.done == done
    assert access.jit_policies("x") == ["jitbot-R1"] and access.has_grant(REQUEST) == ("grant" in done)
