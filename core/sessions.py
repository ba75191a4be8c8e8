"""The SSM sessions of grants, on record: what the holder of each grant opened on its node.

Session Manager keeps the sessions (``DescribeSessions``: the active ones, and the history of the last 30 days);
jitbot reads those of each grant's principal on the grant's node that started during the grant, and keeps them
with the request (id, start, end, document, status, where the log is):

* while the grant is active, at most every ``POLL_EVERY``, by the scheduler's ``sessions`` job, which asks the
  database which grants are due (so any replica that leads does it, and a restart changes nothing);
* when the revocation is confirmed (the sessions just ended are then on record for the end-of-access notice);
* after the grant ended, until every session recorded has ended (or ``SETTLE`` has passed): the final read.

Each session first seen is audited (``session_opened``), and again when it ends (``session_ended``), so the
audit trail and ``jitbot audit export`` carry them too. A failure to read is logged and tried at the next
round; it never holds up a revocation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from core.audit import Action
from core.context import Context, record
from core.model import AccessRequest, NodeSession, State

log = logging.getLogger(__name__)

#: an active grant's sessions are read at most this often
POLL_EVERY = timedelta(minutes=5)
#: after a grant ended, its sessions are read again until all have ended, for at most this long
SETTLE = timedelta(hours=1)
#: a session may start this long before the grant's recorded start (clocks differ; the grant is applied
#: before ``granted_at`` is written, never after)
SKEW = timedelta(minutes=1)
#: audit actions
OPENED = Action.SESSION_OPENED
ENDED = Action.SESSION_ENDED
#: grants read per run of the job
BATCH = 200


@dataclass
class Polled:
    requests: list[str] = field(default_factory=list)
    new: int = 0
    ended: int = 0
    errors: list[str] = field(default_factory=list)


def read(ctx: Context, request: AccessRequest, report: Polled | None = None) -> list[NodeSession] | None:
    """Read the request's sessions from Session Manager and record them; None when they could not be read (or
    there is nothing to read them with). Records the read (``session_polls``): final once the grant has ended,
    its revocation is confirmed and every session recorded has ended, or ``SETTLE`` after the end."""
    if ctx.sessions is None or request.granted_at is None:
        return None
    report = report if report is not None else Polled()
    until = request.ended_at + SKEW if request.ended_at is not None else None
    try:
        found = ctx.sessions.sessions(request, request.granted_at - SKEW, until)
    except Exception as err:  # AWS, or a bug: logged, tried again at the next round
        log.warning("could not read the sessions of a grant", extra={"request_id": request.id, "error": str(err)})
        report.errors.append(f"{request.id}: {err}")
        return None
    now = ctx.clock.now()
    with ctx.uow() as uow:
        for session in found:
            change = uow.repo.save_session(session)
            if change == "new":
                report.new += 1
                record(uow, request.id, "jitbot", OPENED, now, **_detail(session))
            if change == "ended" or (change == "new" and session.ended_at is not None):
                report.ended += 1
                record(uow, request.id, "jitbot", ENDED, now, **_detail(session))
        kept = uow.repo.sessions(request.id)
        ended = request.state.is_final and not request.needs_cleanup
        settled = ended and (all(s.ended_at is not None for s in kept)
                             or (request.ended_at is not None and now - request.ended_at >= SETTLE))
        uow.repo.sessions_polled(request.id, now, final=settled)
        uow.commit()
    report.requests.append(request.id)
    return kept


def poll_due(ctx: Context, *, limit: int = BATCH) -> Polled:
    """The scheduler's job: read the sessions of every grant due (``POLL_EVERY``, the final reads)."""
    report = Polled()
    if ctx.sessions is None:
        return report
    now = ctx.clock.now()
    with ctx.uow() as uow:
        due = uow.repo.sessions_due(now - POLL_EVERY, now - SETTLE, limit=limit)
    for request in due:
        read(ctx, request, report)
    return report


def after_revocation(ctx: Context, request: AccessRequest) -> None:
    """Read the sessions of a grant whose revocation AWS just confirmed (best effort: the job reads them again)."""
    if request.granted_at is None or request.state not in (State.EXPIRED, State.REVOKED):
        return
    try:
        read(ctx, request)
    except Exception:  # the database: never the revocation's failure; the job reads them again
        log.exception("could not record the sessions of a grant", extra={"request_id": request.id})


def recorded(ctx: Context, request_id: str) -> list[NodeSession]:
    """The sessions recorded for a request (``/jit status``, the App Home)."""
    with ctx.uow() as uow:
        return uow.repo.sessions(request_id)


def recorded_for(ctx: Context, request_ids: list[str]) -> dict[str, list[NodeSession]]:
    """The sessions recorded for each of ``request_ids`` (one transaction; the App Home's history)."""
    with ctx.uow() as uow:
        return {request_id: uow.repo.sessions(request_id) for request_id in request_ids}


def _detail(session: NodeSession) -> dict[str, object]:
    return {"session_id": session.id, "owner": session.owner, "document": session.document,
            "status": session.status,
            "started_at": session.started_at.isoformat() if session.started_at else None,
            "ended_at": session.ended_at.isoformat() if session.ended_at else None,
            "log": session.log, "log_url": session.log_url}
