"""Revokers (``[settings] revokers``): the people who may end any live request, whoever approved it.

Auto-approved and Cedar-permitted requests have no approvers, and break-glass is granted before anyone looks:
the revokers can end any of them (``/jit revoke``), and lock a person out (``core.lockout``). Every event they
cause records which entry of ``revokers`` authorized them and, for a user group, its members at that moment.

What a revoke does depends on where the request stands, and always ends it ``revoked`` (ended by an authority;
``rejected`` is its approvers' decision, ``cancelled`` the requester's withdrawal):

* active: like any revocation (``core.access.end_access``): the policy is deleted, the sessions are ended;
* approved: its grant may be being written right now, so it is marked for cleanup; the policy is deleted at
  once, or, if a worker holds the grant's lease, by the sweep as soon as the lease ends (``GRANT_LEASE``);
* pending: nothing exists on AWS; its approval messages lose their buttons and everyone is told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from core import access
from core.access import cleanup, end_access
from core.audit import Action
from core.context import Context, Say, transition
from core.errors import Conflict, InvalidInput, NotAllowed
from core.i18n import T, Text
from core.idc import is_idc_group
from core.model import AccessRequest, Changes, Notice, State
from core.oncall import is_on_call
from core.outbox import flush
from core.policy.schema import GROUP_ID

MAX_REASON = 1000


@dataclass(frozen=True)
class Authority:
    """Why ``actor`` may act as a revoker: the ``revokers`` entry naming them, and the group's members then."""

    actor: str
    entry: str
    members: tuple[str, ...] | None = None

    def detail(self) -> dict[str, Any]:
        """What the audit events record about it."""
        found: dict[str, Any] = {"as": "revoker", "authorized_by": self.entry}
        if self.members is not None:
            found["group_members"] = list(self.members)
        return found


def revoker_authority(ctx: Context, actor: str) -> Authority | None:
    """The entry of ``[settings] revokers`` that names ``actor`` (their own id first, then a group), or None."""
    revokers = ctx.policies().settings.revokers
    if actor in revokers:
        return Authority(actor, actor)
    for entry in revokers:
        if GROUP_ID.match(entry):
            members = ctx.directory.group_members(entry)
            if actor in members:
                return Authority(actor, entry, tuple(sorted(members)))
        elif is_idc_group(entry) and ctx.includes(actor, [entry]):  # Identity Store user ids, read live
            return Authority(actor, entry, tuple(sorted(ctx.idc_members(entry)[1])))
        elif is_on_call(entry) and ctx.includes(actor, [entry]):  # on call now, by their trusted email
            return Authority(actor, entry, tuple(sorted(ctx.on_call_now(entry))))
    return None


def check_revoker(ctx: Context, actor: str, doing: Text) -> Authority:
    """``actor``'s authority as a revoker, or ``NotAllowed`` saying why not (``doing``: "lock people out")."""
    authority = revoker_authority(ctx, actor)
    if authority is None:
        raise NotAllowed(T("Only the revokers ([settings] revokers in the policy file) can {doing}.", doing=doing))
    user = ctx.directory.user(actor)
    if user.deleted or user.is_bot:
        raise NotAllowed(T("Your Slack account cannot act as a revoker."))
    with ctx.uow() as uow:
        locked = uow.repo.lockout(actor)
    if locked is not None:  # a locked-out account cannot unlock itself, nor lock out those who locked it out
        raise NotAllowed(T("You are locked out of jitbot, and cannot act as a revoker until another revoker "
                           "unlocks you."))
    return authority


def clean_reason(reason: str, usage: str) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise InvalidInput(T("Say why: `{usage}`.", usage=usage))
    if len(text) > MAX_REASON:
        raise InvalidInput(T("The reason is {length} characters long; keep it under {limit}.", length=str(len(text)),
                             limit=str(MAX_REASON)))
    return text


def revoke(ctx: Context, request_id: str, actor: str, reason: str) -> AccessRequest:
    """``/jit revoke``: a revoker ends any pending, approved or active request; anyone else goes through the
    approvers' rule (``core.access.revoke``: an approver of the request, other than its requester, on active
    access)."""
    authority = revoker_authority(ctx, actor)
    if authority is None:
        request = ctx.load(request_id)
        if not request.levels:
            raise NotAllowed(T("Request {id} was approved by policy '{policy}' without approvers: only the revokers "
                               "([settings] revokers in the policy file) can revoke it.", id=request_id,
                               policy=request.policy))
        return access.revoke(ctx, request_id, actor, reason)
    authority = check_revoker(ctx, actor, T("revoke this"))
    text = clean_reason(reason, "/jit revoke <request id> <reason>")
    request = ctx.load(request_id)
    if request.state.is_final:
        raise Conflict(T("Request {id} is already {state}; nothing to revoke.", id=request_id,
                         state=request.state.words))
    if not end_request(ctx, request, actor, text, authority.detail()):
        raise Conflict(T("Request {id} changed meanwhile; it is now {state}.", id=request_id,
                         state=ctx.load(request_id).state.words))
    return ctx.load(request_id)


def end_request(ctx: Context, request: AccessRequest, actor: str, reason: str, detail: Mapping[str, Any]) -> bool:
    """End a live request ``revoked``, as the module says; False when it was no longer in ``request.state``."""
    if request.state is State.ACTIVE:
        return end_access(ctx, request.id, State.REVOKED, actor=actor, reason=reason, detail=detail)
    now = ctx.clock.now()
    changes = Changes(ended_at=now, end_reason=reason, ended_by=actor)
    if request.state is State.APPROVED:  # AWS may hold (or be about to hold) its policy: cleaned like a revocation
        changes = replace(changes, needs_cleanup=True, cleanup_attempts=0)
    elif request.state is not State.PENDING:
        return False
    with ctx.uow() as uow:
        # pending: its approval messages lose their buttons and everyone is told, owed with the change
        say = Say(Notice.REVOKED, actor=actor, reason=reason) if request.state is State.PENDING else None
        ok = transition(uow, request, State.REVOKED, actor=actor, action=Action.REVOKED, at=now,
                        detail={"reason": reason, **detail}, say=say, changes=changes)
        uow.commit()
    if not ok:
        return False
    if request.state is State.APPROVED:
        cleanup(ctx, request.id)  # now, unless a worker holds the grant's lease: then the sweep, once it ends
    else:
        flush(ctx, request.id)
    return True
