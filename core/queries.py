"""Read-only questions the Slack surface asks: what may I request, what waits for me, what do I hold.

Nothing here changes state. ``preflight`` runs the checks of ``core.submit.submit`` without recording
anything, and says which field of a form is wrong, so that a modal can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from core.approvals import eligible_now
from core.context import Context
from core.continuous import ContinuousCapExceeded, check_extension
from core.durations import DurationError, parse_duration
from core.errors import Conflict, InvalidInput, JitError, NotAllowed, NotFound, TransientAwsError, Unavailable
from core.lockout import locked_out, refusal
from core.model import FINAL_STATES, AccessRequest, Node, State
from core.policy.evaluate import Requester, Verdict, evaluate
from core.policy.schema import AutoApprovalPolicy, ManualApprovalPolicy
from core.revokers import revoker_authority
from core.submit import MAX_REASON, MAX_TICKET, RequestInput, check_duration, check_levels, check_same_node

GrantingPolicy = AutoApprovalPolicy | ManualApprovalPolicy

#: how many nodes a search looks at before keeping those the requester may ask for
SEARCH_WINDOW = 2000
LIVE_STATES = (State.PENDING, State.APPROVED, State.ACTIVE)


def node_ref(node: Node) -> str:
    """A reference that resolves to exactly this node: ``account/region/id``."""
    return f"{node.account}/{node.region}/{node.id}"


def extended_node(ctx: Context, request_id: str) -> str:
    """The ``node_ref`` of the request an extension form extends; "" when there is no such request (the checks
    of the submission then say what is wrong)."""
    old = ctx.find(request_id)
    return node_ref(old.node) if old else ""


@dataclass(frozen=True)
class Requestable:
    """A node the requester may ask for, and the policy that would decide (with no duration given)."""

    node: Node
    verdict: Verdict

    @property
    def policy(self) -> GrantingPolicy:
        assert self.verdict.granting is not None
        return self.verdict.granting


def requestable_nodes(ctx: Context, user_id: str, text: str = "", limit: int = 100) -> list[Requestable]:
    """Nodes whose id or name contains ``text`` that a policy lets ``user_id`` request, best matches first.
    ``text`` is matched as it is: a wildcard (``*``, ``?``) is refused rather than handed to AWS's filters."""
    if "*" in text or "?" in text:
        raise InvalidInput("The filter takes no wildcards (* or ?): it already matches any part of a node's id or "
                           "name, e.g. `/jit nodes web`.")
    policies = ctx.policies()
    requester = ctx.requester(user_id)
    found: list[Requestable] = []
    for node in ctx.nodes.search(text.strip(), limit=SEARCH_WINDOW):
        verdict = evaluate(policies, requester, node)
        if verdict.granting is not None and verdict.outcome in ("auto", "manual"):
            found.append(Requestable(node, verdict))
            if len(found) >= limit:
                break
    return found


def policy_on(ctx: Context, user_id: str, node: Node, duration: timedelta | None = None) -> Verdict:
    return evaluate(ctx.policies(), ctx.requester(user_id), node, duration)


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
    expanded now) and the revokers. To anyone else it does not exist: the same ``NotFound`` as an unknown id."""
    request = ctx.find(request_id)
    if request is not None and (user_id == request.requester
                                or user_id in ctx.expand(a for level in request.levels for a in level.approvers)
                                or revoker_authority(ctx, user_id) is not None):
        return request
    raise NotFound(f"There is no request {request_id}.")


def live_requests(ctx: Context, user_id: str, limit: int = 50) -> list[AccessRequest]:
    """The requester's pending, approved and active requests, newest first."""
    with ctx.uow() as uow:
        return uow.repo.by_requester(user_id, LIVE_STATES, limit=limit)


def history(ctx: Context, user_id: str, limit: int = 10) -> list[AccessRequest]:
    """The requester's finished requests, newest first."""
    with ctx.uow() as uow:
        return uow.repo.by_requester(user_id, sorted(FINAL_STATES), limit=limit)


def extendable(ctx: Context, user_id: str, request_id: str, duration: timedelta | None = None) -> AccessRequest:
    """The active request ``user_id`` may extend, or a ``JitError`` saying why not.

    An extension goes through the policy of the access it extends: if another policy would decide it now
    (the file changed, or the duration is beyond an auto-approval's maximum), it is refused. So is one that
    would keep access continuous beyond the policy's ``max_continuous`` (``ContinuousCapExceeded``; without
    ``duration``, only when nothing is left).
    """
    with ctx.uow() as uow:
        old = uow.repo.get(request_id)
        waiting = uow.repo.by_requester(user_id, [State.PENDING, State.APPROVED]) if old else []
    if old is None:
        raise NotFound(f"There is no request {request_id}.")
    if old.requester != user_id:
        raise NotAllowed(f"Only the requester of {request_id} can extend it.")
    held = locked_out(ctx, user_id)
    if held is not None:
        raise NotAllowed(refusal(held, "extension"))
    if old.state is not State.ACTIVE:
        raise Conflict(f"Request {request_id} is {old.state.value.replace('_', ' ')}; only active access can "
                       "be extended. Ask for new access instead.")
    for other in waiting:
        if other.extends == request_id:
            raise Conflict(f"Extension {other.id} of {request_id} is already {other.state.value}.")
    verdict = policy_on(ctx, user_id, old.node, duration)
    if verdict.granting is None or verdict.granting.name != old.policy:
        now = f"policy '{verdict.granting.name}'" if verdict.granting else "no policy"
        raise NotAllowed(f"An extension goes through the policy of the access it extends ('{old.policy}'), but "
                         f"{now} would decide it now. {verdict.message}".strip())
    check_extension(ctx, verdict.granting, old, duration)
    return old


class FieldError(JitError):
    """A problem with one field of a request form (``node``, ``duration``, ``reason`` or ``ticket``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Preflight:
    node: Node
    verdict: Verdict
    policy: GrantingPolicy
    duration: timedelta


def _text(value: str | None, field: str, limit: int) -> str:
    text = " ".join((value or "").split())
    if len(text) > limit:
        raise FieldError(field, f"This is {len(text)} characters long; keep it under {limit}.")
    return text


def preflight(ctx: Context, data: RequestInput) -> Preflight:
    """Every check ``submit`` makes, in the order of the form, without recording anything.

    Raises ``FieldError`` naming the field at fault (a refusal by policy is one on ``node``; unlike
    ``submit``, it is not recorded: the form only offers nodes the requester may ask for).
    """
    reason = _text(data.reason, "reason", MAX_REASON)
    if not reason:
        raise FieldError("reason", "Please say why you need access.")
    ticket = _text(data.ticket, "ticket", MAX_TICKET)
    user = ctx.directory.user(data.requester)
    if user.deleted or user.is_bot:
        raise FieldError("node", "Your Slack account cannot request access.")
    held = locked_out(ctx, user.id)
    if held is not None:
        raise FieldError("node", refusal(held, "extension" if data.extends else "request"))
    policies = ctx.policies()
    try:
        ctx.principal_of(user)
    except (NotAllowed, Unavailable) as err:
        raise FieldError("node", str(err)) from None
    if not data.node.strip():
        raise FieldError("node", "Pick a node.")
    try:
        node = ctx.nodes.resolve(data.node.strip())
    except JitError as err:
        raise FieldError("node", str(err)) from None
    except TransientAwsError as err:
        raise FieldError("node", f"AWS did not answer in time; try again. ({err})") from None
    requested = None
    if data.duration:
        try:
            requested = parse_duration(data.duration)
        except DurationError as err:
            raise FieldError("duration", str(err)) from None
    old: AccessRequest | None = None
    if data.extends:
        try:
            old = extendable(ctx, user.id, data.extends, requested)
        except ContinuousCapExceeded as err:
            raise FieldError("duration", str(err)) from None
        except JitError as err:
            raise FieldError("node", str(err)) from None
    verdict = evaluate(policies, ctx.requester(user.id), node, requested)
    policy = verdict.granting
    if policy is None or verdict.outcome not in ("auto", "manual"):
        raise FieldError("node", verdict.message)
    try:
        duration = check_duration(data.duration, policy)
    except InvalidInput as err:
        raise FieldError("duration", str(err)) from None
    if old is not None and requested is None:  # the policy's default duration: checked once known
        try:
            check_extension(ctx, policy, old, duration)
        except ContinuousCapExceeded as err:
            raise FieldError("duration", str(err)) from None
    try:
        check_same_node(ctx, user.id, node, data.extends)
    except Conflict as err:
        raise FieldError("node", str(err)) from None
    if policy.ticket_pattern:
        if not ticket:
            raise FieldError("ticket", f"Policy '{policy.name}' needs a ticket matching {policy.ticket_pattern}.")
        if not re.fullmatch(policy.ticket_pattern, ticket):
            raise FieldError("ticket", f"'{ticket}' does not match {policy.ticket_pattern} "
                                       f"(required by policy '{policy.name}').")
    if isinstance(policy, ManualApprovalPolicy):
        try:
            check_levels(ctx, policy, user.id)
        except NotAllowed as err:
            raise FieldError("node", str(err)) from None
    return Preflight(node, verdict, policy, duration)


def duration_choices(maximum: timedelta, default: timedelta) -> list[timedelta]:
    """Round durations up to ``maximum``, with ``default`` and ``maximum`` themselves among them."""
    steps = [timedelta(minutes=m) for m in (15, 30, 60, 90, 120, 180, 240, 360, 480, 720)]
    steps += [timedelta(days=d) for d in (1, 2, 3, 5, 7, 14, 30)]
    chosen = {s for s in steps if s <= maximum} | {maximum, min(default, maximum)}
    return sorted(chosen)
