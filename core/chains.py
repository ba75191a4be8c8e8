"""Extension chains end together: an extension continues the access it extends, so when that access is revoked
(by an approver, by jitbot, or released by its requester) its extensions end with it.

* A revoke ends the extensions waiting for approval (``pending`` → ``cancelled``) and those approved whose grant
  no worker is applying right now (``approved`` → ``failed``, its policy deleted like any revocation in case an
  earlier attempt applied it): ``cancel_extensions``, called by ``core.access.end_access``.
* An extension whose parent ended ``revoked`` is never granted: ``core.access.activate`` asks ``ended_parent``
  before the grant and again in the transaction that makes it ``active`` (reading the parent for update), so a
  revoke that lands while AWS applies the grant is seen and the grant is deleted again at once.
* The sweep ends pending extensions whose parent was revoked by a path that did not end them
  (``orphaned``): a safety net, the grant-time check being the guarantee.

An extension whose parent simply expired (its window ran out before the extension was decided) is still
granted, from the moment it is granted (``core.access._extended_expiry``): time running out is not a judgement
on the access, and its approvers approved that duration for that person and node.

A link that an extension took over is ``expired`` with the end reason ``extended by <id>``
(``core.continuous.superseded_reason``); ``live_link`` follows those forward to the link that carries the access.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from core.audit import Action
from core.context import Context, Say, transition
from core.continuous import MAX_LINKS, superseded_reason
from core.errors import Conflict
from core.i18n import T
from core.model import AccessRequest, Changes, Expect, Notice, State
from core.outbox import flush
from core.ports import Repository

_SUPERSEDED = superseded_reason("")


def superseded_by(request: AccessRequest) -> str | None:
    """The id of the extension that took over ``request``'s access, if one did."""
    if request.state is State.EXPIRED and request.end_reason and request.end_reason.startswith(_SUPERSEDED):
        return request.end_reason.removeprefix(_SUPERSEDED) or None
    return None


def live_link(repo: Repository, request: AccessRequest) -> AccessRequest | None:
    """The ``active`` request that carries ``request``'s access now: itself, or the extension that took it over
    (followed forward through each link superseded); None when the chain's access has ended."""
    link: AccessRequest | None = request
    seen: set[str] = set()
    while link is not None and link.state is not State.ACTIVE:
        following = superseded_by(link)
        if following is None or following in seen or len(seen) >= MAX_LINKS:
            return None
        seen.add(following)
        link = repo.get(following)
    return link


def superseded_links(repo: Repository, request: AccessRequest) -> list[AccessRequest]:
    """The earlier links of ``request``'s chain (each taken over by the next) whose policy deletion is not
    confirmed yet, latest first."""
    found: list[AccessRequest] = []
    seen = {request.id}
    link = request
    while link.extends is not None and len(seen) < MAX_LINKS:
        previous = repo.get(link.extends)
        if previous is None or previous.id in seen or superseded_by(previous) != link.id:
            break
        seen.add(previous.id)
        if previous.needs_cleanup:
            found.append(previous)
        link = previous
    return found


def ended_reason(parent: AccessRequest) -> str:
    """Why the extensions of the revoked ``parent`` end (their ``end_reason``, said to the requester)."""
    if parent.ended_by == parent.requester:
        return f"{parent.id} was released by the requester"
    why = f" ({' '.join((parent.end_reason or '').split())[:300]})" if parent.end_reason else ""
    return f"{parent.id} was revoked{why}"


def ended_parent(repo: Repository, extension: AccessRequest, *, for_update: bool = False) -> str | None:
    """Why ``extension`` may never be granted (the access it extends ended ``revoked``), or None."""
    if extension.extends is None:
        return None
    parent = repo.get(extension.extends, for_update=for_update)
    if parent is None or parent.state is not State.REVOKED:
        return None
    return ended_reason(parent)


def cancel_extensions(ctx: Context, parent: AccessRequest) -> list[AccessRequest]:
    """End the extensions of the revoked ``parent`` in the database (one transaction) and return them; the
    caller tells people (``tell_cancelled``) once the revocation itself is under way.

    ``pending`` → ``cancelled``. ``approved`` → ``failed`` when no worker holds its lease (one waiting for a
    retry of its grant), with ``needs_cleanup`` so the sweep deletes whatever an earlier attempt applied; one
    whose grant is being applied right now is left to that worker, which finds the parent revoked in the
    transaction that would make it active (``core.access.activate``)."""
    now = ctx.clock.now()
    reason = ended_reason(parent)
    actor = parent.ended_by or "jitbot"
    ended: list[AccessRequest] = []
    with ctx.uow() as uow:
        live = [r for r in uow.repo.by_requester(parent.requester, [State.PENDING, State.APPROVED], limit=1000)
                if r.extends == parent.id]
        for extension in live:
            common = Changes(ended_at=now, ended_by=actor, end_reason=reason)
            if extension.state is State.PENDING:
                ok = transition(uow, extension, State.CANCELLED, actor=actor, action=Action.CANCELLED, at=now,
                                detail={"reason": reason, "parent": parent.id},
                                say=Say(Notice.CANCELLED, actor=actor, reason=reason), changes=common)
            else:
                ok = transition(uow, extension, State.FAILED, actor=actor, action=Action.GRANT_FAILED, at=now,
                                expect=Expect(lease_free_at=now), detail={"error": reason, "parent": parent.id},
                                say=Say(Notice.FAILED, actor=actor, reason=reason),
                                changes=replace(common, needs_cleanup=True, cleanup_attempts=0, lease_until=None))
            if ok:
                ended.append(uow.repo.get(extension.id) or extension)
        uow.commit()
    return ended


def tell_cancelled(ctx: Context, ended: list[AccessRequest]) -> None:
    """Send what ending the extensions owed (in their transaction): their approval messages lose their buttons;
    the requester, the threads and the audit channel are told why."""
    flush(ctx, *(extension.id for extension in ended))


def orphaned(ctx: Context, extension: AccessRequest) -> bool:
    """The sweep's safety net: cancel the pending ``extension`` if the access it extends was revoked by a path
    that did not end it. True when this call cancelled it."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        reason = ended_parent(uow.repo, extension)
        if reason is None:
            return False
        ok = transition(uow, extension, State.CANCELLED, actor="jitbot", action=Action.CANCELLED, at=now,
                        detail={"reason": reason, "parent": extension.extends},
                        say=Say(Notice.CANCELLED, actor="jitbot", reason=reason),
                        changes=Changes(ended_at=now, ended_by="jitbot", end_reason=reason))
        uow.commit()
    if ok:
        tell_cancelled(ctx, [ctx.load(extension.id)])
    return ok


def free_links(ctx: Context, ended: AccessRequest) -> list[AccessRequest]:
    """The earlier links of ``ended``'s chain whose policy deletion is still retrying, their backoff cut short
    so that revoking the chain deletes their policies now (a duplicate attempt is harmless: ``reclaim``)."""
    with ctx.uow() as uow:
        links = superseded_links(uow.repo, ended)
        for link in links:
            uow.repo.free_cleanup(link.id)
        uow.commit()
    return [replace(link, lease_until=None) for link in links]


def carried_on(ctx: Context, requests: Sequence[AccessRequest]) -> frozenset[str]:
    """The superseded links among ``requests`` whose chain is still active: their sessions now run under the
    extension that took over, so only their policy is deleted."""
    links = [r for r in requests if superseded_by(r) is not None]
    if not links:
        return frozenset()
    with ctx.uow() as uow:
        return frozenset(r.id for r in links if live_link(uow.repo, r) is not None)


def carrier(ctx: Context, request: AccessRequest) -> AccessRequest:
    """The link that carries ``request``'s access now: itself, or the extension that took it over (so ending
    any link of a chain ends the chain's access); ``Conflict`` when that access has ended."""
    if request.state is State.ACTIVE:
        return request
    with ctx.uow() as uow:
        link = live_link(uow.repo, request)
    if link is None:
        raise Conflict(T("Request {id} is {state}, not active.", id=request.id, state=request.state.words))
    return link
