"""Drift reconciliation: make IAM agree with the database (docs/architecture.md).

* Every ``jitbot-*`` inline policy on a principal of ``[identities]`` must be explained by a request that is
  ``active``, ``approved`` (being granted) or still being cleaned up (``needs_cleanup``), for that principal.
  Anything else is removed, audited and said in the audit channel. Principals outside ``[identities]`` are
  never touched: jitbot only manages what its policy file hands it. Identity Center grants are permission sets
  ``jitbot-<request id>`` (``aws/identity_center.py``): the backend lists their users (``jit_principals``), and
  each such user's ``jitbot-*`` permission sets are judged the same way.
* Every ``active`` grant whose policy is missing was revoked by someone outside jitbot (an operator during an
  incident, another tool): AWS had confirmed jitbot's write before the grant became active, so this is a
  revocation, not drift to undo. The grant ends ``revoked`` (actor ``outside-jitbot``, with the evidence on
  record), the requester's sessions on the node are terminated, the requester and the audit channel are
  told, and the policy is never put back. Writes of jitbot's that AWS did not confirm are the grant's own
  business (``approved``: ``core.access.activate`` retries them); reconciliation never writes a grant.

Safe to run at any time and concurrently with everything else: a removal only deletes a policy that nothing
in the database explains *after* it was listed, and a grant is judged only when still active after its policy
was found missing (jitbot marks a grant ended before deleting its policy). One failing principal or request
does not stop the others; the next run retries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.access import end_access
from core.audit import Action
from core.context import Context, owe, record
from core.errors import TransientAwsError
from core.i18n import ENGLISH, Tr
from core.model import AccessRequest, Event, Kind, Node, Notice, State
from core.outbox import flush

log = logging.getLogger(__name__)

POLICY_PREFIX = "jitbot-"
ACTOR = "jitbot"
#: who ended a grant whose policy was removed from IAM by someone else (audit actor, ``ended_by``)
OUTSIDE = "outside-jitbot"
#: an active grant this close to its end is left to the expiry (the sweep)
END_MARGIN = timedelta(seconds=5)
#: IAM is eventually consistent: a read soon after jitbot's ``PutRolePolicy`` may not show the policy yet, so a
#: grant younger than this is not judged (the next run does)
SETTLE = timedelta(minutes=2)
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
    #: active grants whose policy someone removed outside jitbot: now revoked
    revoked: list[str] = field(default_factory=list)
    #: active grants too young to judge (``SETTLE``)
    recent: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def acted(self) -> bool:
        return bool(self.removed or self.revoked)

    def lines(self, tr: Tr = ENGLISH) -> list[str]:
        """What happened, one line each, for people (the CLI prints these, in ``tr``'s language; the reasons and
        AWS's errors are the records' own words)."""
        out = [tr.plural("checked {principals} from [identities] and {count} active grant",
                         "checked {principals} from [identities] and {count} active grants", self.active,
                         principals=tr.plural("{count} principal", "{count} principals", self.principals))]
        out += [tr("removed {policy} from {principal}: {why}", policy=r.policy, principal=r.principal, why=r.why)
                for r in self.removed]
        out += [tr("revoked {id}: its policy was removed outside jitbot", id=rid) for rid in self.revoked]
        out += [tr("not checked {id}: granted less than {settle} ago", id=rid, settle=SETTLE) for rid in self.recent]
        out += [tr("error: {error}", error=e) for e in self.errors]
        if not self.acted and not self.errors and not self.recent:
            out.append(tr("nothing to do: IAM matches the database"))
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
            record(uow, request_id, ACTOR, Action.DRIFT_REMOVED, now, principal=principal, policy=name, why=why)
            owe(uow, Event(Notice.DRIFT_REMOVED, shown, actor=ACTOR, reason=why), now, threads="none")
            uow.commit()
        report.removed.append(Removal(principal, name, why))
        log.warning("reconcile removed %s from %s: %s", name, principal, why)
        flush(ctx, shown.id)


def check_grant(ctx: Context, request: AccessRequest, report: ReconcileReport) -> None:
    """An active grant whose policy is gone was revoked by someone outside jitbot: end it as such.

    ``active`` means AWS confirmed jitbot's own write (the state changes only after ``PutRolePolicy``
    answered), so a missing policy is somebody's removal, never a write of jitbot's that did not land;
    it is not re-applied. Not judged: a grant younger than ``SETTLE`` (IAM is eventually consistent),
    one about to end (its expiry deals with it), one already ending (``needs_cleanup``).
    """
    now = ctx.clock.now()
    if request.expires_at is None or request.expires_at <= now + END_MARGIN or request.needs_cleanup:
        return  # ending anyway: the expiry (sweep) deals with it
    if request.granted_at is None or request.granted_at > now - SETTLE:
        report.recent.append(request.id)
        return
    try:
        if ctx.access.has_grant(request):
            return
    except TransientAwsError as err:
        report.errors.append(f"checking the policy of {request.id}: {err}")
        return
    # read after AWS: jitbot marks a grant ended before it deletes the policy, so still active now means
    # the policy was gone while jitbot still held the grant active
    fresh = _load(ctx, request.id)
    if fresh is None or fresh.state is not State.ACTIVE or fresh.needs_cleanup:
        return  # it ended while we looked: its own cleanup removed the policy
    name = f"{POLICY_PREFIX}{request.id}"
    checked = now.isoformat(timespec="seconds")
    with ctx.uow() as uow:
        record(uow, request.id, ACTOR, Action.GRANT_REMOVED_OUTSIDE, now, principal=request.principal_arn,
               policy=name, granted_at=request.granted_at.isoformat(), expires_at=request.expires_at.isoformat(),
               checked_at=now.isoformat())
        uow.commit()
    reason = (f"its IAM policy {name} was removed from {request.principal_arn} outside jitbot "
              f"(found missing at {checked}); jitbot does not put it back")
    if end_access(ctx, request.id, State.REVOKED, actor=OUTSIDE, reason=reason):
        report.revoked.append(request.id)
        log.warning("reconcile: %s was removed from %s outside jitbot; grant %s revoked", name,
                    request.principal_arn, request.id)


def reconcile(ctx: Context) -> ReconcileReport:
    """One pass: orphans first (principal by principal), then the active grants. Never raises for AWS."""
    report = ReconcileReport()
    principals = set(ctx.policies().identities.values())
    try:  # Identity Center users holding jitbot's permission sets, whether or not [identities] names them
        principals.update(ctx.access.jit_principals())
    except TransientAwsError as err:
        report.errors.append(f"listing the principals of jitbot's permission sets: {err}")
    report.principals = len(principals)
    for principal in sorted(principals):
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
            check_grant(ctx, request, report)
        except Exception as err:
            log.exception("reconcile failed for request %s", request.id)
            report.errors.append(f"{request.id}: {type(err).__name__}: {err}")
    return report

