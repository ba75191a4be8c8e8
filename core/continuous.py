"""The cap on continuous access through extensions: a granting policy's ``max_continuous``.

An extension continues the window of the access it extends without a gap (``core.access``), so a chain of
extensions is one continuous window, from the first grant of the chain to the end of its last link. Each
extension is bounded by the policy's ``max_duration``; ``max_continuous`` bounds the chain. It is checked
when an extension is asked for (``core.checks.check`` and ``extendable``:
refused, nothing recorded) and again when the extension is granted (``core.access.activate``: the policy
file may have changed meanwhile, and the extension then fails).

A link continues the one it extends when its window starts where that one ended: the grant took the
branch of ``core.access._extended_expiry`` that continues the old window, and the old request was then
superseded. An extension granted after the old access had already expired starts a new window (one whose
access was revoked or released is never granted: ``core.chains``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.context import Context
from core.durations import format_duration
from core.errors import InvalidInput
from core.i18n import T, Text
from core.model import AccessRequest
from core.policy.file import PolicyFile
from core.policy.schema import AutoApprovalPolicy, ManualApprovalPolicy
from core.ports import Repository

GrantingPolicy = AutoApprovalPolicy | ManualApprovalPolicy

#: a guard against a corrupt chain (a cycle); real chains are a handful of links
MAX_LINKS = 1000


class ContinuousCapExceeded(InvalidInput):
    """An extension would keep access continuous for longer than its policy's ``max_continuous``."""

    def __init__(self, message: Text, left: timedelta) -> None:
        super().__init__(message)
        self.left = left


def superseded_reason(extension_id: str) -> str:
    """The ``end_reason`` of access whose window an extension took over (``core.access._supersede``)."""
    return f"extended by {extension_id}"


def granting_policy(policies: PolicyFile, name: str) -> GrantingPolicy | None:
    """The auto-approval, manual-approval or Cedar permit policy called ``name`` in the file in force."""
    permits = policies.cedar.permits if policies.cedar is not None else ()
    every: list[GrantingPolicy] = [*policies.auto_approval, *permits, *policies.manual_approval]
    return next((p for p in every if p.name == name), None)


def _window_start(request: AccessRequest) -> datetime | None:
    if request.expires_at is not None:
        return request.expires_at - request.duration
    return request.granted_at


def _continues(link: AccessRequest, previous: AccessRequest) -> bool:
    start = _window_start(link)
    return previous.granted_at is not None and (
        previous.end_reason == superseded_reason(link.id)
        or (start is not None and start == previous.expires_at))


def chain_start(repo: Repository, link: AccessRequest) -> datetime | None:
    """When the continuous window ``link`` belongs to began: the ``granted_at`` of the first grant reached
    by following ``extends`` back through the links that continued the one before (one read per link)."""
    seen = {link.id}
    while link.extends is not None and len(seen) < MAX_LINKS:
        previous = repo.get(link.extends)
        if previous is None or previous.id in seen or not _continues(link, previous):
            break
        seen.add(previous.id)
        link = previous
    return link.granted_at if link.granted_at is not None else _window_start(link)


@dataclass(frozen=True)
class Continuity:
    """The continuous window an active grant belongs to, against its policy's cap."""

    policy: GrantingPolicy
    cap: timedelta
    since: datetime
    until: datetime

    @property
    def used(self) -> timedelta:
        return self.until - self.since

    @property
    def left(self) -> timedelta:
        return max(self.cap - self.used, timedelta(0))


def continuity(ctx: Context, policy: GrantingPolicy, old: AccessRequest) -> Continuity | None:
    """The window of active access ``old`` under ``policy``; None when the policy sets no cap."""
    if policy.max_continuous is None or old.expires_at is None:
        return None
    with ctx.uow() as uow:
        since = chain_start(uow.repo, old)
    if since is None:
        return None
    return Continuity(policy, policy.max_continuous, since, old.expires_at)


def _advice(old: AccessRequest) -> Text:
    return T("Beyond that, ask for new access (`/jit request`) once {id} has ended (or after `/jit release {id}`); "
             "it goes through the policy's normal path.", id=old.id)


def check_extension(ctx: Context, policy: GrantingPolicy, old: AccessRequest,
                    duration: timedelta | None = None) -> None:
    """Refuse (``ContinuousCapExceeded``) an extension of ``old`` by ``duration`` that would keep access
    continuous beyond ``max_continuous``; without ``duration``, refuse only when nothing is left.

    A duration longer than what is left is refused with the most one could ask for: never shortened.
    """
    window = continuity(ctx, policy, old)
    if window is None or (duration is not None and window.used + duration <= window.cap):
        return
    if window.left <= timedelta(0):
        raise ContinuousCapExceeded(T(
            "{id} cannot be extended: policy '{policy}' allows at most {cap} of continuous access (max_continuous), "
            "and {id} with the extensions before it already covers {used}. {advice}", id=old.id, policy=policy.name,
            cap=window.cap, used=window.used, advice=_advice(old)), window.left)
    if duration is None:
        return
    raise ContinuousCapExceeded(T(
        "Extending {id} by {duration} would make {total} of continuous access, more than the {cap} policy '{policy}' "
        "allows (max_continuous): you can ask for at most {left} more. {advice}", id=old.id, duration=duration,
        total=window.used + duration, cap=window.cap, policy=policy.name, left=window.left,
        advice=_advice(old)), window.left)


def refusal_at_grant(ctx: Context, extension: AccessRequest, now: datetime, expires_at: datetime) -> str | None:
    """Why the approved ``extension`` may not be granted ``now`` until ``expires_at`` under the policy file in
    force (its ``max_continuous`` may have changed since it was asked for), or None when it may."""
    policy = granting_policy(ctx.policies(), extension.policy)
    if policy is None or policy.max_continuous is None:
        return None
    granted = extension.with_changes(granted_at=now, expires_at=expires_at)
    with ctx.uow() as uow:
        since = chain_start(uow.repo, granted)
    if since is None or expires_at - since <= policy.max_continuous:
        return None
    return (f"it would make {format_duration(expires_at - since)} of continuous access, more than the "
            f"{format_duration(policy.max_continuous)} policy '{policy.name}' allows now (max_continuous); "
            f"{extension.extends} stays as it is, and new access can be asked for once it has ended.")
