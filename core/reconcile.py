"""Drift reconciliation: make IAM agree with the database (DESIGN.md §5).

* Every ``jitbot-*`` inline policy on a principal of ``[identities]`` must be explained by a request that is
  ``active``, ``approved`` (being granted) or still being cleaned up (``needs_cleanup``), for that principal.
  Anything else is removed, audited and said in the audit channel. Principals outside ``[identities]`` are
  never touched: jitbot only manages what its policy file hands it.
* Every ``active`` grant whose policy is missing (deleted by hand, by another tool…) is re-applied with its
  existing expiry; if AWS refuses the re-application, the access is ended (``revoked`` by jitbot, with the
  reason), which also terminates the requester's sessions on the node.

Safe to run at any time and concurrently with everything else: a removal only deletes a policy that nothing
in the database explains *after* it was listed, and a re-applied grant is deleted again at once if its
request ended meanwhile. One failing principal or request does not stop the others; the next run retries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.access import end_access
from core.context import Context, owe, record
from core.errors import GrantRefused, TransientAwsError
from core.model import AccessRequest, Event, Kind, Node, Notice, State

log = logging.getLogger(__name__)

POLICY_PREFIX = "jitbot-"
ACTOR = "jitbot"
#: an active grant this close to its end is left to the expiry (the sweep) rather than re-applied
REAPPLY_MARGIN = timedelta(seconds=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Removal:
    principal: str
    policy: str
    why: str


@dataclass
class ReconcileReport:
    principals: int = 0
    active: int = 0
    removed: list[Removal] = field(default_factory=list)
    reapplied: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def acted(self) -> bool:
        return bool(self.removed or self.reapplied or self.ended)

    def lines(self) -> list[str]:
        """What happened, one line each, for people (the CLI prints these)."""
        out = [f"checked {self.principals} principal(s) from [identities] and {self.active} active grant(s)"]
        out += [f"removed {r.policy} from {r.principal}: {r.why}" for r in self.removed]
        out += [f"re-applied the missing policy of {rid}" for rid in self.reapplied]
        out += [f"ended {rid}: its policy was missing and could not be re-applied" for rid in self.ended]
        out += [f"error: {e}" for e in self.errors]
        if not self.acted and not self.errors:
            out.append("nothing to do: IAM matches the database")
        return out


def _principal_key(arn: str) -> tuple[str, str, str]:
    """(account, kind, name) of an IAM role/user ARN, ignoring its path: the same principal however written."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return ("", "", arn)
    resource = parts[5]
    kind, _, rest = resource.partition("/")
    return (parts[4], kind, rest.rsplit("/", 1)[-1])


def _request_id(policy: str) -> str | None:
    suffix = policy.removeprefix(POLICY_PREFIX)
    return suffix if suffix[:1] == "R" and suffix.isalnum() and len(suffix) <= 32 else None


def _why_orphan(request: AccessRequest | None, principal: str) -> str | None:
    """None when the request explains the policy; else why it does not (for the audit trail)."""
    if request is None:
        return "no request of jitbot's database has this id"
    if _principal_key(request.principal_arn) != _principal_key(principal):
        return f"request {request.id} was granted to {request.principal_arn}, not to this principal"
    if request.state in (State.ACTIVE, State.APPROVED) or request.needs_cleanup:
        return None
    return f"request {request.id} is {request.state.value}"


def _shadow(request_id: str, principal: str) -> AccessRequest:
    """Stands for an unknown request in a notice (the audit line needs the policy and the principal only)."""
    account = _principal_key(principal)[0]
    return AccessRequest(id=request_id, requester="", principal_arn=principal, node=Node("-", account, "-"),
                         reason="", duration=timedelta(0), policy="-", kind=Kind.MANUAL, levels=(),
                         state=State.EXPIRED, created_at=_EPOCH)


def _load(ctx: Context, request_id: str | None) -> AccessRequest | None:
    return ctx.find(request_id) if request_id is not None else None


def remove_orphans(ctx: Context, principal: str, report: ReconcileReport) -> None:
    """Delete the ``jitbot-*`` policies of ``principal`` that no live request explains."""
    try:
        names = ctx.access.jit_policies(principal)
    except TransientAwsError as err:
        report.errors.append(f"listing the policies of {principal}: {err}")
        return
    orphans: list[tuple[str, str | None, AccessRequest | None, str]] = []
    for name in names:
        request_id = _request_id(name)
        request = _load(ctx, request_id)
        why = _why_orphan(request, principal)
        if why is not None:
            orphans.append((name, request_id, request, why))
    if orphans:  # a request that just ended has its policy deleted by its own cleanup: not drift
        try:
            still = set(ctx.access.jit_policies(principal))
        except TransientAwsError as err:
            report.errors.append(f"listing the policies of {principal}: {err}")
            return
        orphans = [o for o in orphans if o[0] in still]
    for name, request_id, request, why in orphans:
        try:
            ctx.access.delete_policy(principal, name)
        except TransientAwsError as err:
            report.errors.append(f"removing {name} from {principal}: {err}")
            continue
        now = ctx.clock.now()
        shown = (request.with_changes(principal_arn=principal) if request is not None
                 else _shadow(name.removeprefix(POLICY_PREFIX), principal))
        with ctx.uow() as uow:
            record(uow, request_id, ACTOR, "drift_removed", now, principal=principal, policy=name, why=why)
            owe(uow, Event(Notice.DRIFT_REMOVED, shown, actor=ACTOR, reason=why), now, threads="none")
            uow.commit()
        report.removed.append(Removal(principal, name, why))
        log.warning("reconcile removed %s from %s: %s", name, principal, why)
        ctx.flush(shown.id)


def restore(ctx: Context, request: AccessRequest, report: ReconcileReport) -> None:
    """Re-apply the missing policy of an active grant, or end the access when AWS refuses it."""
    now = ctx.clock.now()
    if request.expires_at is None or request.expires_at <= now + REAPPLY_MARGIN or request.needs_cleanup:
        return  # ending anyway: the expiry (sweep) deals with it
    try:
        if ctx.access.has_grant(request):
            return
    except TransientAwsError as err:
        report.errors.append(f"checking the policy of {request.id}: {err}")
        return
    fresh = _load(ctx, request.id)
    if fresh is None or fresh.state is not State.ACTIVE:
        return  # it ended while we looked: its cleanup removed the policy
    name = f"{POLICY_PREFIX}{request.id}"
    try:
        ctx.access.grant(fresh, request.expires_at, ctx.policies().settings.session_documents)
    except TransientAwsError as err:
        report.errors.append(f"re-applying {name} for {request.id}: {err}")
        return
    except GrantRefused as err:
        reason = f"its IAM policy {name} was missing and could not be re-applied: {err}"
        if end_access(ctx, request.id, State.REVOKED, actor=ACTOR, reason=reason):
            report.ended.append(request.id)
        return
    after = _load(ctx, request.id)
    if after is None or after.state is not State.ACTIVE:  # ended while we re-applied: take it back
        try:
            ctx.access.delete_policy(request.principal_arn, name)
        except TransientAwsError as err:
            report.errors.append(f"taking back {name} of {request.id}, which ended meanwhile: {err}")
        return
    with ctx.uow() as uow:
        record(uow, request.id, ACTOR, "grant_reapplied", ctx.clock.now(), principal=request.principal_arn,
               policy=name, expires_at=request.expires_at.isoformat())
        owe(uow, Event(Notice.GRANT_REAPPLIED, after, actor=ACTOR), ctx.clock.now())
        uow.commit()
    report.reapplied.append(request.id)
    log.warning("reconcile re-applied the missing policy %s of %s", name, request.principal_arn)
    ctx.flush(request.id)


def reconcile(ctx: Context) -> ReconcileReport:
    """One pass: orphans first (principal by principal), then the active grants. Never raises for AWS."""
    report = ReconcileReport()
    principals = sorted(set(ctx.policies().identities.values()))
    report.principals = len(principals)
    for principal in principals:
        try:
            remove_orphans(ctx, principal, report)
        except Exception as err:  # one principal must not stop the others
            log.exception("reconcile failed for principal %s", principal)
            report.errors.append(f"{principal}: {type(err).__name__}: {err}")
    with ctx.uow() as uow:
        active = uow.repo.in_states([State.ACTIVE], limit=100_000)
    report.active = len(active)
    for request in active:
        try:
            restore(ctx, request, report)
        except Exception as err:
            log.exception("reconcile failed for request %s", request.id)
            report.errors.append(f"{request.id}: {type(err).__name__}: {err}")
    return report

