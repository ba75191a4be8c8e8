"""The audit trail's vocabulary: every action jitbot records, by the value stored in ``audit_events.action``.

The values are the database's; they never change (reports, exports and the digest read them back). An
``AuditEvent`` read from the database carries its action as a plain string, which compares equal to these.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    # -- a request's life (core.submit, core.approvals, core.access, core.sweep, core.chains, core.revokers)
    SUBMITTED = "submitted"
    #: a submission refused after its node was resolved (policy, limits, lockout …)
    REQUEST_REFUSED = "request_refused"
    AUTO_APPROVED = "auto_approved"
    #: one approver's decision at one level
    APPROVE = "approve"
    REJECT = "reject"
    #: a level other than the last got the approvals it needs
    LEVEL_APPROVED = "level_approved"
    #: state moves: the last level approved, an approver rejected, the requester cancelled …
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    GRANTED = "granted"
    GRANT_FAILED = "grant_failed"
    EXPIRED = "expired"
    REVOKED = "revoked"
    #: an active grant retired by the extension that took over
    SUPERSEDED = "superseded"
    #: AWS did not confirm a step; it is retried with backoff
    GRANT_RETRY = "grant_retry"
    REVOKE_RETRY = "revoke_retry"
    REVOCATION_CONFIRMED = "revocation_confirmed"
    EXPIRY_WARNED = "expiry_warned"
    REMINDED = "reminded"
    #: a level waited ``escalate_after`` without a decision: its ``escalate_to`` are asked and count for it
    ESCALATED = "escalated"
    # -- break-glass (core.breakglass)
    BREAKGLASS = "breakglass"
    BREAKGLASS_REFUSED = "breakglass_refused"
    BREAKGLASS_REVIEWED = "breakglass_reviewed"
    # -- lockouts (core.lockout)
    LOCKOUT = "lockout"
    UNLOCK = "unlock"
    LOCKED_OUT_REFUSED = "locked_out_refused"
    # -- drift between IAM and the database (core.reconcile)
    DRIFT_REMOVED = "drift_removed"
    GRANT_REMOVED_OUTSIDE = "grant_removed_outside"
    # -- housekeeping
    #: revocations AWS has not confirmed, re-alerted in the audit channel (core.pending)
    REVOCATIONS_PENDING_ALERTED = "revocations_pending_alerted"
    #: an outbox item given up on (core.outbox)
    MESSAGE_UNDELIVERED = "message_undelivered"
    #: an SSM session of a grant's holder, first seen, then seen ended (core.sessions)
    SESSION_OPENED = "session_opened"
    SESSION_ENDED = "session_ended"
    RETENTION_PURGED = "retention_purged"
    DIGEST_POSTED = "digest_posted"
    POLICIES_LOADED = "policies_loaded"
    POLICIES_RELOADED = "policies_reloaded"
    POLICIES_RELOAD_FAILED = "policies_reload_failed"
