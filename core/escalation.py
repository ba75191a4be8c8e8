"""Escalation: a level that waited its ``escalate_after`` without a decision asks its fallback approvers
(``escalate_to``) too, who count for that level from then on (``core.approvals.deciders``).

The sweep drives it from the database (``Repository.escalate`` writes ``escalated_level`` once per level, with its
audit event and the messages it owes), so it survives restarts and runs once across replicas.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.audit import Action
from core.context import Context, owe, record
from core.durations import format_duration
from core.model import AccessRequest, Event, Intent, Notice, Send
from core.outbox import flush


def escalation_due(request: AccessRequest, now: datetime, started: datetime) -> bool:
    """Whether the waiting level has an escalation, not applied yet, whose ``escalate_after`` has passed since
    the level began waiting (``started``: ``core.sweep.level_started``)."""
    level = request.level
    if level is None or level.escalate_after is None or request.escalated(request.current_level):
        return False
    return now - started >= level.escalate_after


def escalate(ctx: Context, request: AccessRequest, now: datetime, waited: timedelta) -> bool:
    """Escalate the waiting level once: record it (``escalated_level`` and the ``escalated`` audit event), and owe
    the fallback approvers' call: a message with the level's buttons in ``escalate_channel``, or a mention in the
    level's own thread; the requester is told by DM either way."""
    index = request.current_level
    level = request.levels[index]
    with ctx.uow() as uow:
        ok = uow.repo.escalate(request.id, index)
        if ok:
            record(uow, request.id, "jitbot", Action.ESCALATED, now, level=index, level_name=level.name,
                   escalate_to=list(level.escalate_to), channel=level.escalate_channel or level.channel,
                   after=format_duration(level.escalate_after or waited), waited=format_duration(waited))
            escalated = request.with_changes(escalated_level=index)
            if level.escalate_channel is not None:
                uow.repo.owe(Intent(Send.ESCALATION, request.id, level=index), now)
            owe(uow, Event(Notice.ESCALATED, escalated, level=index), now, threads=f"level-{index}")
        uow.commit()
    if ok:
        flush(ctx, request.id)
    return ok
