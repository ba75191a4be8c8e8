"""Revocations AWS has not confirmed: said again in the audit channel every 15 minutes until it does.

A revocation is *pending* from the moment a grant ends (or reaches its end while still active) until AWS
confirms that its policy is deleted and the sessions are ended (``needs_cleanup`` cleared). The first alert
comes from the retries themselves (``REVOKE_FAILING`` after ``core.access.ALERT_AFTER_ATTEMPTS`` failures);
this one repeats it while any revocation has been pending for ``REALERT_EVERY`` or more, so an outage of
AWS or of jitbot's permissions cannot fall silent.

The database drives it: each re-alert is an audit event (``revocations_pending_alerted``), recorded before it
is sent and only when none was recorded within ``REALERT_EVERY``, so a restart or a new leader keeps the
rhythm. The scheduler calls it from its sweep, so only the replica that runs the scheduler sends. It stops by
itself: once AWS confirms, nothing is pending and nothing is said. One alert names the longest-waiting
revocation and counts the others, so an outage with a thousand pending revocations is one line per 15 minutes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from core.audit import Action
from core.context import Context, owe, record
from core.durations import format_duration
from core.model import AccessRequest, Event, Notice
from core.outbox import flush

log = logging.getLogger(__name__)

REALERT_EVERY = timedelta(minutes=15)
#: the audit action of a re-alert
ALERTED = Action.REVOCATIONS_PENDING_ALERTED
#: requests named in the alert (and in its audit event); the count covers all of them
NAMED = 10
#: how many are read to count them (more are said as "1000 or more")
COUNTED = 1000


def _since(request: AccessRequest) -> str:
    ended = request.ended_at or request.expires_at
    return ended.isoformat(timespec="seconds") if ended is not None else "?"


def _alerted_since(ctx: Context, now: datetime) -> bool:
    """Whether a re-alert is on record after ``now - REALERT_EVERY`` (or ahead of ``now``: a replica whose clock
    runs ahead)."""
    assert ctx.reports is not None
    since = now - REALERT_EVERY + timedelta(microseconds=1)
    return bool(ctx.reports.events([ALERTED], since, now + REALERT_EVERY, limit=1))



def realert(ctx: Context) -> AccessRequest | None:
    """Say again that revocations are pending, if one has waited ``REALERT_EVERY`` and no re-alert was recorded
    within ``REALERT_EVERY``. Returns the request the alert was about (the longest waiting), or None."""
    if ctx.reports is None:
        return None
    now = ctx.clock.now()
    overdue = ctx.reports.pending_revocations(now - REALERT_EVERY, limit=COUNTED)
    if not overdue or _alerted_since(ctx, now):  # the usual answers, without taking a lock
        return None
    oldest = overdue[0]
    count = f"{len(overdue)}" if len(overdue) < COUNTED else f"{COUNTED} or more"
    named = [r.id for r in overdue[:NAMED]]
    waited = format_duration(now - (oldest.ended_at or oldest.expires_at or now))
    others = ", ".join(named[1:]) + ("…" if len(overdue) > NAMED else "")
    reason = (f"access ended {waited} ago and AWS has not confirmed its revocation ({oldest.cleanup_attempts} "
              f"failed attempt(s)); {count} revocation(s) pending for more than {format_duration(REALERT_EVERY)}"
              + (f", also {others}" if others else "")
              + f". Said again every {format_duration(REALERT_EVERY)} until AWS confirms.")
    with ctx.uow() as uow:
        # two schedulers that both believe they lead (a moment during a takeover) take turns here: the lock on
        # the oldest pending request (SQLite: the write lock of the transaction) is held until the alert is on
        # record, so the second one then sees it and stays silent
        uow.repo.get(oldest.id, for_update=True)
        since = now - REALERT_EVERY + timedelta(microseconds=1)  # read in this transaction (rare: about to alert)
        if any(e.action == ALERTED for e in uow.repo.events(since=since)):
            return None
        record(uow, None, "jitbot", ALERTED, now, pending=len(overdue), requests=named, oldest=oldest.id,
               oldest_since=_since(oldest), attempts=oldest.cleanup_attempts)
        owe(uow, Event(Notice.REVOKE_FAILING, oldest, reason=reason), now)
        uow.commit()
    log.warning("revocations pending", extra={"pending": len(overdue), "requests": named})
    flush(ctx, oldest.id)
    return oldest
