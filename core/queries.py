"""Read-only questions the Slack surface asks: what may I request, what waits for me, what do I hold.

Nothing here changes state. What a request must satisfy is ``core.checks``.
"""

from __future__ import annotations

from datetime import timedelta

from core.approvals import deciders, eligible_now
from core.checks import GrantingPolicy, Requestable, deciding, verdict_on
from core.context import Context
from core.errors import InvalidInput, NotFound
from core.i18n import T
from core.model import FINAL_STATES, LIVE_STATES, AccessRequest, State
from core.policy.evaluate import Requester
from core.revokers import revoker_authority

#: how many nodes a search looks at before keeping those the requester may ask for
SEARCH_WINDOW = 2000


def requestable_nodes(ctx: Context, user_id: str, text: str = "", limit: int = 100) -> list[Requestable]:
    """Nodes whose id or name contains ``text`` that a policy lets ``user_id`` request, best matches first.
    ``text`` is matched as it is: a wildcard (``*``, ``?``) is refused rather than handed to AWS's filters."""
    if "*" in text or "?" in text:
        raise InvalidInput(T("The filter takes no wildcards (* or ?): it already matches any part of a node's id "
                             "or name, e.g. `/jit nodes web`."))
    requester = ctx.requester(user_id)
    found: list[Requestable] = []
    for node in ctx.nodes.search(text.strip(), limit=SEARCH_WINDOW):
        verdict = verdict_on(ctx, requester, node)
        if deciding(verdict) is not None:
            found.append(Requestable(node, verdict))
            if len(found) >= limit:
                break
    return found


def usable_policies(ctx: Context, requester: Requester) -> list[GrantingPolicy]:
    """The granting policies that name ``requester`` (or everyone), whatever the node."""
    policies = ctx.policies()
    every: list[GrantingPolicy] = [*policies.auto_approval, *policies.manual_approval]
    return [p for p in every if requester.is_in(p.requesters)]


def awaiting_decision(ctx: Context, user_id: str, limit: int = 50) -> list[AccessRequest]:
    """Pending requests whose current level ``user_id`` may decide now (oldest first).

    The rules of ``core.approvals.check_approver``: not one's own request, an approver of the current
    level as recorded and in the policy now in force (live group membership), and no decision of theirs on
    the request yet at any level.
    """
    with ctx.uow() as uow:
        pending = uow.repo.in_states([State.PENDING])
    candidates = [r for r in pending if r.level is not None and r.requester != user_id
                  and eligible_now(ctx, r, r.current_level, user_id)]
    if not candidates:
        return []
    mine: list[AccessRequest] = []
    with ctx.uow() as uow:  # oldest first: stop reading decisions once ``limit`` are found
        for request in candidates:
            if all(d.approver != user_id for d in uow.repo.decisions(request.id)):
                mine.append(request)
                if len(mine) == limit:
                    break
    return mine


def visible_request(ctx: Context, user_id: str, request_id: str) -> AccessRequest:
    """The request, if ``user_id`` may see it: its requester, the approvers of its levels (as recorded, groups
    expanded now; an escalated level's fallback approvers too) and the revokers. To anyone else it does not
    exist: the same ``NotFound`` as an unknown id."""
    request = ctx.find(request_id)
    if request is not None and (user_id == request.requester
                                or user_id in ctx.expand(a for index, level in enumerate(request.levels)
                                                         for a in deciders(level, request.escalated(index)))
                                or revoker_authority(ctx, user_id) is not None):
        return request
    raise NotFound(T("There is no request {id}.", id=request_id))


def live_requests(ctx: Context, user_id: str, limit: int = 50) -> list[AccessRequest]:
    """The requester's pending, approved and active requests, newest first."""
    with ctx.uow() as uow:
        return uow.repo.by_requester(user_id, LIVE_STATES, limit=limit)


def history(ctx: Context, user_id: str, limit: int = 10) -> list[AccessRequest]:
    """The requester's finished requests, newest first."""
    with ctx.uow() as uow:
        return uow.repo.by_requester(user_id, sorted(FINAL_STATES), limit=limit)


def duration_choices(maximum: timedelta, default: timedelta) -> list[timedelta]:
    """Round durations up to ``maximum``, with ``default`` and ``maximum`` themselves among them."""
    steps = [timedelta(minutes=m) for m in (15, 30, 60, 90, 120, 180, 240, 360, 480, 720)]
    steps += [timedelta(days=d) for d in (1, 2, 3, 5, 7, 14, 30)]
    chosen = {s for s in steps if s <= maximum} | {maximum, min(default, maximum)}
    return sorted(chosen)
