"""The kill switch: ``/jit lockout <user> <reason>`` and ``/jit unlock <user>``, for the revokers only.

A lockout is recorded first (``lockouts``, in the database: it holds across restarts and on every replica), then
every live request of the person ends ``revoked`` as a revoker's revoke would (``core.revokers.end_request``:
grants deleted on AWS and sessions ended, pending requests closed with their buttons removed, break-glass
included). From then on their requests are refused (``refuse_if_locked_out``: requests, extensions,
break-glass), and a grant already on its way is refused at the last step (``core.access.activate``), so that a
request that slipped in while the lockout was being written is never granted. A locked-out person cannot act as
a revoker (``core.revokers.check_revoker``) nor approve (``core.approvals.check_approver``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.audit import Action
from core.context import Context, owe, record
from core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from core.i18n import T, Text
from core.model import LIVE_STATES, AccessRequest, Event, Kind, Lockout, Node, Notice, State
from core.outbox import flush
from core.revokers import check_revoker, clean_reason, end_request


@dataclass(frozen=True)
class Person:
    """Who a command names: a member id (``<@U…>`` or ``U…``), or a handle to look up (``@name``)."""

    user_id: str | None = None
    handle: str | None = None


@dataclass(frozen=True)
class LockedOut:
    lockout: Lockout
    ended: tuple[str, ...]
    #: requests that could not be ended now (they changed meanwhile): the grant gate still refuses them
    missed: tuple[str, ...]


def resolve(ctx: Context, person: Person) -> str:
    """The member id ``person`` names, or a ``JitError`` saying why it names nobody (or several people)."""
    if person.user_id is not None:
        ctx.directory.user(person.user_id)  # NotFound: "Slack user … does not exist."
        return person.user_id
    handle = (person.handle or "").strip()
    if not handle:
        raise InvalidInput(T("Name a person: their mention (@name), or their member id (U…)."))
    found = ctx.directory.find_by_name(handle)
    if not found:
        raise NotFound(T("Nobody in this workspace is called @{handle}. Pick them from Slack's list as you type "
                         "@, or give their member id (U…).", handle=handle))
    if len(found) > 1:
        listed = ", ".join(f"{u.id} ({u.name or '?'})" for u in sorted(found, key=lambda u: u.id)[:10])
        raise InvalidInput(T("@{handle} could be {count} people: {listed}. Give their member id (U…).",
                             handle=handle, count=len(found), listed=listed))
    return found[0].id


def _shadow(user_id: str, ctx: Context) -> AccessRequest:
    """The person a lockout notice is about, as the notifier's Event expects (no request behind it)."""
    return AccessRequest(id="-", requester=user_id, principal_arn="", node=Node("-", "", ""), reason="",
                         duration=timedelta(0), policy="-", kind=Kind.MANUAL, levels=(), state=State.REVOKED,
                         created_at=ctx.clock.now())


def lockout(ctx: Context, actor: str, person: Person, reason: str) -> LockedOut:
    """Lock ``person`` out and end everything they hold or wait for; audited and announced."""
    authority = check_revoker(ctx, actor, T("lock people out"))
    text = clean_reason(reason, "/jit lockout <user> <reason>")
    target = resolve(ctx, person)
    if target == actor:
        raise NotAllowed(T("You cannot lock yourself out; ask another revoker."))
    now = ctx.clock.now()
    done = Lockout(user_id=target, by=actor, reason=text, at=now)
    with ctx.uow() as uow:
        if not uow.repo.add_lockout(done):
            held = uow.repo.lockout(target)
            if held is None:
                raise Conflict(T("{user} is already locked out. `/jit unlock` first to lock them out anew.",
                                 user=target))
            raise Conflict(T("{user} is already locked out since {since} UTC, by {by}. `/jit unlock` first to lock "
                             "them out anew.", user=target, since=held.at.strftime("%Y-%m-%d %H:%M"), by=held.by))
        live = uow.repo.by_requester(target, LIVE_STATES, limit=10_000)
        record(uow, None, actor, Action.LOCKOUT, now, user=target, reason=text, requests=[r.id for r in live],
               **authority.detail())
        owe(uow, Event(Notice.LOCKED_OUT, _shadow(target, ctx), actor=actor, reason=text), now, threads="none")
        uow.commit()
    why = f"locked out: {text}"
    detail = {**authority.detail(), "lockout": True}
    ended: list[str] = []
    missed: list[str] = []
    # pending first: an extension waiting for approval never outlives the grant it extends
    for request in sorted(live, key=lambda r: LIVE_STATES.index(r.state)):
        (ended if end_request(ctx, request, actor, why, detail) else missed).append(request.id)
    flush(ctx, _shadow(target, ctx).id)
    return LockedOut(done, tuple(ended), tuple(missed))


def unlock(ctx: Context, actor: str, person: Person, reason: str | None = None) -> str:
    """End ``person``'s lockout (their requests are accepted again); audited and announced. Returns their id."""
    authority = check_revoker(ctx, actor, T("unlock people"))
    target = resolve(ctx, person)
    text = " ".join((reason or "").split())[:1000] or None
    now = ctx.clock.now()
    with ctx.uow() as uow:
        held = uow.repo.lockout(target)
        if held is None or not uow.repo.remove_lockout(target):
            raise Conflict(T("{user} is not locked out.", user=target))
        record(uow, None, actor, Action.UNLOCK, now, user=target, reason=text, locked_by=held.by,
               locked_at=held.at.isoformat(), **authority.detail())
        owe(uow, Event(Notice.UNLOCKED, _shadow(target, ctx), actor=actor, reason=text), now, threads="none")
        uow.commit()
    flush(ctx, _shadow(target, ctx).id)
    return target


def locked_out(ctx: Context, user_id: str) -> Lockout | None:
    with ctx.uow() as uow:
        return uow.repo.lockout(user_id)


def refusal(held: Lockout, what: str) -> Text:
    """Why a locked-out person's ``what`` ("request", "extension", "break-glass") is refused."""
    since = f"{held.at:%Y-%m-%d %H:%M}"
    if what == "extension":
        return T("You are locked out of jitbot (since {since} UTC): no extension is accepted until a revoker "
                 "unlocks you.", since=since)
    if what == "break-glass":
        return T("You are locked out of jitbot (since {since} UTC): no break-glass is accepted until a revoker "
                 "unlocks you.", since=since)
    if what == "request":
        return T("You are locked out of jitbot (since {since} UTC): no request is accepted until a revoker "
                 "unlocks you.", since=since)
    return T("You are locked out of jitbot (since {since} UTC): no {what} is accepted until a revoker unlocks "
             "you.", since=since, what=what)


def refuse_if_locked_out(ctx: Context, user_id: str, what: str) -> None:
    """``NotAllowed`` (and an audit event) when ``user_id`` is locked out; ``what``: "request", "break-glass"…"""
    held = locked_out(ctx, user_id)
    if held is None:
        return
    with ctx.uow() as uow:
        record(uow, None, user_id, Action.LOCKED_OUT_REFUSED, ctx.clock.now(), what=what, locked_by=held.by,
               locked_at=held.at.isoformat())
        uow.commit()
    raise NotAllowed(refusal(held, what))


def lockouts(ctx: Context) -> list[Lockout]:
    """Who is locked out now, the earliest first."""
    with ctx.uow() as uow:
        return uow.repo.lockouts(limit=1000)
