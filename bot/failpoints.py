"""Crash points at the AWS and Slack boundaries, for the crash tests only: inert unless ``JITBOT_FAILPOINTS`` is set.

``JITBOT_FAILPOINTS=grant.before,revoke.after`` makes the process die, as ``kill -9`` would (``os._exit(137)``:
no ``finally``, no ``atexit``, no flush, no goodbye to the database), the first time it reaches one of the named
points:

* ``grant.before``  the approval is recorded, the IAM policy is not written yet;
* ``grant.after``   the IAM policy is written, the database does not know it yet (still ``approved``);
* ``revoke.before`` the database says the access ended, the IAM policy is still there;
* ``revoke.after``  AWS removed the policy and ended the sessions, the database does not know it yet.

and around Slack, for the messages of the outbox (``core.outbox``): the change that owes a message is committed,
the message is not posted yet:

* ``approval.post``, ``approval.update``: a level's approval message, posted or updated;
* ``notice.<notice>`` (``notice.granted``, ``notice.expired`` …): the DM, thread replies and audit line of one
  kind of notice;
* ``breakglass.alert``, ``breakglass.reviewed``: the break-glass announcements, and their review;
* ``message.sent``: any of those went through, and the outbox has not recorded it yet (the one window where a
  message is sent twice).

``wrap`` returns the backend unchanged when the variable is unset or empty, so production runs the very same
objects as before; an unknown point name is an error at start rather than a crash test that silently never
crashes. Our own code is not mocked: the crash happens at the adapter boundary, around the real gateway.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from core.model import AccessRequest, Decision, Event, MessageRef, Notice, Review
from core.ports import AccessBackend, BreakglassNotices, Notifier

ENV = "JITBOT_FAILPOINTS"
AWS_POINTS = frozenset({"grant.before", "grant.after", "revoke.before", "revoke.after"})
SLACK_POINTS = frozenset({"approval.post", "approval.update", "breakglass.alert", "breakglass.reviewed",
                          "message.sent", *(f"notice.{notice.value}" for notice in Notice)})
POINTS = AWS_POINTS | SLACK_POINTS
#: the exit status of a process killed by SIGKILL, as a shell reports it (128 + 9)
EXIT_STATUS = 137


def parse(value: str | None) -> frozenset[str]:
    """The points named in ``value`` (comma-separated); raises ``ValueError`` for a name that is not a point."""
    names = frozenset(part.strip() for part in (value or "").split(",") if part.strip())
    unknown = sorted(names - POINTS)
    if unknown:
        raise ValueError(f"{ENV}: unknown failpoint(s) {', '.join(unknown)}; known: {', '.join(sorted(POINTS))}")
    return names


def die(point: str) -> None:
    """Leave now, without cleaning anything up (the closest a process gets to ``kill -9`` on itself)."""
    os.write(sys.stderr.fileno(), f"failpoint {point} reached: exiting with {EXIT_STATUS}\n".encode())
    os._exit(EXIT_STATUS)


class _Armed:
    """Delegates to ``inner`` and calls ``crash(point)`` when an armed point is reached."""

    def __init__(self, inner: Any, points: frozenset[str], crash: Callable[[str], None] = die) -> None:
        self.inner = inner
        self.points = points
        self.crash = crash

    def _at(self, point: str) -> None:
        if point in self.points:
            self.crash(point)


class CrashingAccess(_Armed):
    """An ``AccessBackend`` that delegates to ``inner`` and calls ``crash(point)`` at the armed points."""

    inner: AccessBackend

    def grant(self, request: AccessRequest, expires_at: datetime, documents: Sequence[str]) -> None:
        self._at("grant.before")
        self.inner.grant(request, expires_at, documents)
        self._at("grant.after")

    def revoke(self, request: AccessRequest) -> int:
        self._at("revoke.before")
        sessions = self.inner.revoke(request)
        self._at("revoke.after")
        return sessions

    def has_grant(self, request: AccessRequest) -> bool:
        return self.inner.has_grant(request)

    def jit_policies(self, principal_arn: str) -> list[str]:
        return self.inner.jit_policies(principal_arn)

    def delete_policy(self, principal_arn: str, policy_name: str) -> None:
        self.inner.delete_policy(principal_arn, policy_name)

    def jit_principals(self) -> list[str]:
        return self.inner.jit_principals()


class CrashingNotifier(_Armed):
    """A ``Notifier`` that delegates to ``inner`` and calls ``crash(point)`` at the armed points."""

    inner: Notifier

    def post_approval(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        self._at("approval.post")
        ref = self.inner.post_approval(request, level, decisions)
        self._at("message.sent")
        return ref

    def post_escalation(self, request: AccessRequest, level: int, decisions: Sequence[Decision]) -> MessageRef | None:
        self._at("approval.post")
        ref = self.inner.post_escalation(request, level, decisions)
        self._at("message.sent")
        return ref

    def update_approval(self, request: AccessRequest, ref: MessageRef, decisions: Sequence[Decision]) -> None:
        self._at("approval.update")
        self.inner.update_approval(request, ref, decisions)
        self._at("message.sent")

    def announce(self, event: Event, refs: Sequence[MessageRef], done: frozenset[str] = frozenset()) -> None:
        self._at(f"notice.{event.notice.value}")
        self.inner.announce(event, refs, done)
        self._at("message.sent")


class CrashingBreakglass(_Armed):
    """``BreakglassNotices`` that delegate to ``inner`` and call ``crash(point)`` at the armed points."""

    inner: BreakglassNotices

    def alert(self, request: AccessRequest, reviewers: tuple[str, ...],
              done: frozenset[str] = frozenset()) -> list[MessageRef]:
        self._at("breakglass.alert")
        refs = self.inner.alert(request, reviewers, done)
        self._at("message.sent")
        return refs

    def reviewed(self, request: AccessRequest, refs: Sequence[MessageRef], review: Review,
                 done: frozenset[str] = frozenset()) -> None:
        self._at("breakglass.reviewed")
        self.inner.reviewed(request, refs, review, done)
        self._at("message.sent")


def _armed(environ: Mapping[str, str] | None) -> frozenset[str]:
    return parse((os.environ if environ is None else environ).get(ENV))


def wrap(backend: AccessBackend, environ: Mapping[str, str] | None = None) -> AccessBackend:
    """``backend`` itself unless ``JITBOT_FAILPOINTS`` names points; then a ``CrashingAccess`` around it."""
    points = _armed(environ) & AWS_POINTS
    return CrashingAccess(backend, points) if points else backend


def wrap_notifier(notifier: Notifier, environ: Mapping[str, str] | None = None) -> Notifier:
    """``notifier`` itself unless ``JITBOT_FAILPOINTS`` names Slack points; then a ``CrashingNotifier``."""
    points = _armed(environ) & SLACK_POINTS
    return CrashingNotifier(notifier, points) if points else notifier


def wrap_breakglass(notices: BreakglassNotices, environ: Mapping[str, str] | None = None) -> BreakglassNotices:
    """``notices`` itself unless ``JITBOT_FAILPOINTS`` names Slack points; then ``CrashingBreakglass``."""
    points = _armed(environ) & SLACK_POINTS
    return CrashingBreakglass(notices, points) if points else notices
