"""The outbox: every message jitbot owes is recorded in the transaction of the change that owes it, then sent
from there, with retries, so that neither a crash nor a Slack outage loses it.

* Order: a request's messages go out in the order they were owed; one that is not sent yet (failing, backing
  off, being sent elsewhere) holds back the later ones of its request, so that a thread reply never precedes
  its approval message and a notice never overtakes an earlier one. Other requests are not held back. The
  lifecycle events for other systems (``core.events``) keep their own order per request, in a lane of their own:
  a webhook that is down never holds back Slack, nor Slack the events.
* One sender per item: an item is claimed (``OWED_LEASE``) with a conditional update before it is sent, so two
  threads or replicas never send it both; a claim left by a process that died runs out (or is freed at start
  where this process is the only one: ``reclaim``).
* Retries: a failed attempt waits ``backoff`` (2 s, doubling, at most 5 minutes); an item is given up on
  ("dead", logged, audited, counted in ``jitbot_outbox_dead``) after ``MAX_ATTEMPTS`` attempts, at once when
  Slack says retrying cannot help. The parts of an item that went out (the DM of a notice whose audit line
  failed) are recorded and not sent again.
* At least once: a message is sent again only when the process dies (or the claim runs out) between Slack's
  answer and the commit that records it, a window of one database write (the transaction that also claims the
  next item; should that claim fail, the record is written alone).
* One transaction per item: the items owed are read with the first one's claim, each claim reads what its item
  shows, and each item's record goes with the next one's claim.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from core import events
from core.audit import Action
from core.context import Context, record, reviews
from core.durations import backoff
from core.errors import Undelivered
from core.model import AccessRequest, Decision, MessageRef, NodeSession, Notice, Owed, Review, Send, ended_notice
from core.ports import UnitOfWork

log = logging.getLogger(__name__)

#: how long a sender has to send one item before another may take it over (a few Slack calls, with retries)
OWED_LEASE = timedelta(minutes=2)
#: attempts before an item is given up on (about 15 minutes of backoff: 2 s, 4 s, … 5 min)
MAX_ATTEMPTS = 10
#: the periodic run leaves items this young to the thread that owed them, which sends them right after its
#: commit (``flush``) once the rest of its work (a grant, say) is done; the periodic run is the safety net
FRESH = timedelta(seconds=2)


#: the notices that say access ended: they carry the sessions recorded (``core.sessions``)
_ENDED = frozenset({Notice.EXPIRED, Notice.REVOKED, Notice.RELEASED})
#: the messages that show the decisions taken (an approval message, its escalation, and their updates)
_SHOWS_DECISIONS = frozenset({Send.APPROVAL, Send.ESCALATION, Send.UPDATE})


@dataclass
class Delivery:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Read:
    """What sending one item needs from the database, read in the transaction that claimed it."""

    request: AccessRequest | None = None
    refs: Sequence[MessageRef] = ()
    decisions: Sequence[Decision] = ()
    reviews: Sequence[Review] = ()
    sessions: tuple[NodeSession, ...] | None = None  # an ended notice's sessions (None: not such a notice)


def deliver(ctx: Context, request_ids: Sequence[str] | None = None, *, limit: int = 1000) -> Delivery:
    """Send what is owed and due (of ``request_ids`` only, when given), in the order owed per request.

    One transaction per item sent: the items are read with the first one's claim, and each item's confirmation
    is written with the next one's claim (each claim also reads what its item shows)."""
    report = Delivery()
    if request_ids is not None and not request_ids:
        return report
    held: set[tuple[str, bool]] = set()
    with ctx.uow() as uow:
        items = uow.repo.owed(request_ids, limit=limit)
        claimed = _claim_next(ctx, uow, items, 0, held, request_ids)
        uow.commit()
    while claimed is not None:
        index, read = claimed
        item = items[index]
        done = _send(ctx, item, read, report)
        if done is None:  # not settled (failed, recorded by ``_failed``): the later ones of its request wait
            held.add(_lane(item))
            with ctx.uow() as uow:
                claimed = _claim_next(ctx, uow, items, index + 1, held, request_ids)
                uow.commit()
            continue
        claimed = _confirm_and_claim_next(ctx, done, items, index + 1, held, request_ids)
    return report


def _lane(item: Owed) -> tuple[str, bool]:
    return item.intent.request_id, item.intent.send is Send.EVENT  # a request's Slack lane, its events' lane


def _claim_next(ctx: Context, uow: UnitOfWork, items: Sequence[Owed], start: int, held: set[tuple[str, bool]],
                request_ids: Sequence[str] | None) -> tuple[int, _Read] | None:
    """In ``uow``: claim the first of ``items[start:]`` that may go now, and read what it needs; its position
    and that, or None when none is left. What may not go yet holds back the later items of its lane."""
    for index in range(start, len(items)):
        item = items[index]
        key = _lane(item)
        if key in held:
            continue
        now = ctx.clock.now()
        if item.next_attempt_at > now:  # backing off, or being sent by someone else: the later ones wait
            held.add(key)
            continue
        if request_ids is None and item.attempts == 0 and now - item.created_at < FRESH:  # its owner sends it
            held.add(key)
            continue
        if not uow.repo.claim_owed(item.id, now, now + OWED_LEASE):
            held.add(key)
            continue
        return index, _read(uow, item)
    return None


def _confirm_and_claim_next(ctx: Context, done: Callable[[UnitOfWork], None], items: Sequence[Owed], start: int,
                            held: set[tuple[str, bool]], request_ids: Sequence[str] | None
                            ) -> tuple[int, _Read] | None:
    """Record the item just sent (``done``) and claim the next one, in one transaction. Should the claim fail
    (the database), the item sent is still recorded, alone, before the error goes on."""
    try:
        with ctx.uow() as uow:
            done(uow)
            claimed = _claim_next(ctx, uow, items, start, held, request_ids)
            uow.commit()
        return claimed
    except Exception:
        with ctx.uow() as uow:
            done(uow)
            uow.commit()
        raise


def _read(uow: UnitOfWork, item: Owed) -> _Read:
    """What ``item`` shows: its request (now), the messages already posted, and what its kind of message needs
    besides (the decisions on an approval message, the reviews of a break-glass use, an ended notice's sessions)."""
    intent = item.intent
    if intent.send is Send.EVENT:  # the event carries its request as the transition left it
        return _Read()
    request = uow.repo.get(intent.request_id)
    sessions = None
    if intent.send is Send.NOTICE:
        event = intent.event if intent.event is not None else (ended_notice(request) if request else None)
        if event is not None and event.notice in _ENDED and event.request.granted_at is not None:
            sessions = tuple(uow.repo.sessions(intent.request_id))
    if request is None:
        return _Read(sessions=sessions)
    refs = uow.repo.messages(intent.request_id)
    decisions = uow.repo.decisions(intent.request_id) if intent.send in _SHOWS_DECISIONS else []
    done_reviews = reviews(uow, intent.request_id) if intent.send is Send.REVIEWED else []
    return _Read(request, refs, decisions, done_reviews, sessions)


def _send(ctx: Context, item: Owed, read: _Read, report: Delivery) -> Callable[[UnitOfWork], None] | None:
    """One attempt. Sent: what records it (written with the next claim); else None, the failure recorded (a
    dead letter is settled too: its record is then nothing more)."""
    try:
        refs = _attempt(ctx, item, read)
    except Undelivered as err:
        return _settled(_failed(ctx, item, report, str(err), err.sent, err.refs, err.permanent))
    except Exception as err:  # a bug or the database: retried like Slack being down, and logged
        log.exception("sending an owed message failed", extra={"request_id": item.intent.request_id,
                                                                 "send": item.intent.send.value})
        return _settled(_failed(ctx, item, report, f"{type(err).__name__}: {err}", frozenset(), (), False))
    at = ctx.clock.now()
    report.sent.append(item.id)

    def confirm(uow: UnitOfWork) -> None:
        for ref in refs:
            uow.repo.add_message(ref)
        uow.repo.owed_sent(item.id, at)
    return confirm


def _settled(settled: bool) -> Callable[[UnitOfWork], None] | None:
    return (lambda _uow: None) if settled else None


def _failed(ctx: Context, item: Owed, report: Delivery, error: str, sent: frozenset[str],
            refs: Sequence[MessageRef], permanent: bool) -> bool:
    attempts = item.attempts + 1
    now = ctx.clock.now()
    intent = item.intent
    dead = permanent or attempts >= MAX_ATTEMPTS
    if intent.send is Send.EVENT:  # other systems may be down for longer than Slack: a day of retries
        dead = permanent or (attempts >= MAX_ATTEMPTS and now - item.created_at >= events.RETRY_FOR)
    with ctx.uow() as uow:
        for ref in refs:
            uow.repo.add_message(ref)
        uow.repo.owed_failed(item.id, attempts=attempts, retry_at=now + backoff(attempts, ctx.retry_backoff),
                             done=item.done | sent, error=error[:1000], dead=dead)
        if dead:
            record(uow, intent.request_id, "jitbot", Action.MESSAGE_UNDELIVERED, now, send=intent.send.value,
                   attempts=attempts, error=error[:1000], notice=intent.event.notice.value if intent.event else None,
                   level=intent.level, event=intent.change.id if intent.change else None)
        uow.commit()
    extra = {"request_id": intent.request_id, "send": intent.send.value, "attempts": attempts, "error": error}
    if dead:
        log.error("owed message given up on (dead letter)", extra=extra)
        report.dead.append(item.id)
        return True
    log.warning("owed message not sent; retrying later", extra=extra)
    report.failed.append(item.id)
    return False




def _attempt(ctx: Context, item: Owed, read: _Read) -> list[MessageRef]:
    """Send the item; returns the messages to remember (approval messages, break-glass announcements)."""
    intent = item.intent
    if intent.send is Send.EVENT:
        if intent.change is not None and ctx.events is not None and ctx.events.configured():
            ctx.events.publish(intent.change, item.done)
        return []  # nowhere to publish to: nothing owed
    request, refs, decisions, done_reviews = read.request, list(read.refs), read.decisions, read.reviews
    if intent.send is Send.NOTICE:
        event = intent.event if intent.event is not None else (ended_notice(request) if request else None)
        if event is None:  # a carried-over notice whose request is gone: nothing left to say it about
            return []
        if event.notice in _ENDED and event.request.granted_at is not None and read.sessions is not None:
            event = replace(event, records=read.sessions)
        if intent.threads == "none":
            refs = []
        elif intent.threads != "all":
            wanted = intent.threads.split(",")
            refs = [r for r in refs if r.purpose in wanted]
        ctx.notifier.announce(event, [r for r in refs if r.purpose.startswith("level-")], item.done)
        return []
    if request is None:  # purged meanwhile (retention): nothing to show
        return []
    purpose = f"level-{intent.level}"
    if intent.send in (Send.ESCALATION, Send.APPROVAL):
        escalation = intent.send is Send.ESCALATION
        message = f"escalation-{intent.level}" if escalation else purpose
        if any(r.purpose == message for r in refs):  # posted, and recorded, before a crash: not twice
            return []
        post = ctx.notifier.post_escalation if escalation else ctx.notifier.post_approval
        ref = post(request, intent.level or 0, decisions)
        if ref is None:
            what = "escalation" if escalation else "approval"
            raise Undelivered(f"Slack did not take the {what} message of level {(intent.level or 0) + 1}")
        return [ref]
    if intent.send is Send.UPDATE:
        for ref in refs:  # the level's message, and its escalation's elsewhere (none: given up on, nothing to update)
            if ref.purpose in (purpose, f"escalation-{intent.level}"):
                ctx.notifier.update_approval(request, ref, decisions)
        return []
    if ctx.breakglass is None:
        raise RuntimeError("break-glass messages need Context.breakglass")
    announced = [r for r in refs if r.purpose.startswith("breakglass-")]
    if intent.send is Send.BREAKGLASS:
        reviewers = request.levels[0].approvers if request.levels else ()
        return ctx.breakglass.alert(request, reviewers, frozenset(r.purpose for r in announced))
    if done_reviews:
        ctx.breakglass.reviewed(request, announced, done_reviews[0], item.done)
    return []


def flush(ctx: Context, *request_ids: str) -> None:
    """Send now, in this thread, what was just owed for these requests (call right after the commit that
    owed it); what fails stays owed and the scheduler's periodic run retries it."""
    try:
        deliver(ctx, request_ids)
    except Exception:  # the database or a bug: the messages stay owed, and the periodic run sends them
        log.exception("could not send the messages owed", extra={"request_ids": list(request_ids)})


def retry_owed(ctx: Context) -> int:
    """Make every message still owed due now: at start, where this process is the only one, the claims
    left by a process that died are its own (see ``core.access.reclaim``). Returns how many were waiting."""
    with ctx.uow() as uow:
        waiting = uow.repo.retry_owed_now(ctx.clock.now())
        uow.commit()
    return waiting
