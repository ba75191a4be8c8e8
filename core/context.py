"""What every use case needs: the ports, the policies in force, and the audit-recording helpers.

A ``Context`` is built once, finished, by the composition root (``bot/root.py``) and never changed after:
every port it carries exists before it does.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.audit import Action
from core.errors import NotFound
from core.events import change as lifecycle_change
from core.i18n import Catalogs, T, Tr, language_of
from core.idc import idc_group_ref, idc_user_principal, is_idc_group
from core.identity import idc_identity, principal_of, trusted_email
from core.model import (
    AccessRequest,
    AuditEvent,
    Changes,
    Event,
    Expect,
    Intent,
    Kind,
    Notice,
    Review,
    Send,
    State,
    UserInfo,
    can_transition,
)
from core.oncall import OnCallRouter, is_on_call, provider_of, schedule_of, schedule_words
from core.policy.evaluate import Requester
from core.policy.file import PolicyFile
from core.policy.schema import GROUP_ID
from core.ports import (
    AccessBackend,
    Alarms,
    BreakglassNotices,
    Clock,
    Directory,
    IdentityStore,
    NodeDirectory,
    Notifier,
    OnCall,
    PrincipalTags,
    Publisher,
    SessionHistory,
    UnitOfWork,
)
from core.reports import Reports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    uow: Callable[[], UnitOfWork]
    clock: Clock
    nodes: NodeDirectory
    access: AccessBackend
    directory: Directory
    notifier: Notifier
    policies: Callable[[], PolicyFile]
    #: the precise timers of the grants (``bot.scheduler``); None where only the sweep keeps time
    alarms: Alarms | None = None
    #: the loud break-glass announcements and their Review buttons (core.breakglass); None where unused
    breakglass: BreakglassNotices | None = None
    #: the first wait before retrying an AWS step that AWS did not confirm; doubles each attempt (core.access)
    retry_backoff: timedelta = timedelta(seconds=2)
    #: revocations sent to AWS at once when many grants end together (a burst of expiries, a restart)
    revoke_workers: int = 8
    #: the history in aggregate (daily digest, retention); None where nothing reads it
    reports: Reports | None = None
    #: IAM Identity Center's identity store (used when the policy file has ``[identity_center]``)
    identities: IdentityStore | None = None
    #: the tags of IAM roles and users, for Cedar's ``context.iam.principalTags``
    principal_tags: PrincipalTags | None = None
    #: Session Manager's record of the sessions of grants (core.sessions); None where unused
    sessions: SessionHistory | None = None
    #: EventBridge and the webhook of ``[events]`` (core.events); None: events are owed but published nowhere
    events: Publisher | None = None
    #: on-call schedules (``pagerduty:``, ``opsgenie:`` entries; ``core.oncall.OnCallRouter``); None: none configured
    on_call: OnCall | None = None
    #: the message catalogs (``core.i18n``), read on first use
    catalogs: Catalogs = field(default_factory=Catalogs)

    # -- whose language (``[settings] language`` / ``channel_language``) -----------------------------------------
    def tr_for(self, user_id: str | None) -> Tr:
        """The language of what ``user_id`` reads alone (DMs, ephemeral answers, modals, App Home): the policy's
        ``language``, or under "auto" the person's Slack locale (English when Slack does not say or jitbot does
        not speak it). A profile that cannot be read falls back to English rather than failing the message."""
        language = self.policies().settings.language
        if language != "auto":
            return self.catalogs.get(language)
        if not user_id:
            return self.catalogs.get(None)
        try:
            locale = self.directory.user(user_id).locale
        except Exception:
            log.warning("no locale for %s; answering in English", user_id, exc_info=True)
            locale = None
        return self.catalogs.get(language_of(locale))

    def tr_channel(self) -> Tr:
        """The language of channel messages: approval messages, threads, the audit channel, the digest."""
        return self.catalogs.get(self.policies().settings.channel_lang)

    # -- who someone is, and which lists name them (Slack ids, Slack user groups, Identity Center groups) -------
    def identity_store(self) -> IdentityStore | None:
        """The identity store, when the policy file in force configures ``[identity_center]``."""
        return self.identities if self.policies().identity_center is not None else None

    def principal_of(self, user: UserInfo) -> str:
        """The principal receiving ``user``'s grants (``core.identity.principal_of``), or why there is none."""
        return principal_of(self.policies(), user, self.identity_store())

    def idc_members(self, entry: str) -> tuple[str | None, frozenset[str]]:
        """(GroupId, member user ids) of an ``idc-group:`` entry; (None, empty) for a group that does not exist."""
        store = self.identity_store()
        group = store.group(idc_group_ref(entry)) if store is not None else None
        if store is None or group is None:
            return None, frozenset()
        return group.group_id, store.group_member_ids(group.group_id)

    def idc_user_id(self, user_id: str) -> str | None:
        store = self.identity_store()
        return None if store is None else idc_identity(store, self.directory.user(user_id))

    def on_call_now(self, entry: str) -> frozenset[str]:
        """The emails (lower case) of whoever is on call now for an on-call entry's schedule (none for a schedule
        its provider does not know); ``Unavailable`` when the provider cannot be asked or is not configured:
        nobody is ever taken to be on call by default."""
        try:
            return frozenset(e.lower() for e in (self.on_call or OnCallRouter()).on_call(entry))
        except NotFound:
            log.warning("%s has no schedule %s: nobody is on call for it", provider_of(entry), schedule_words(entry))
            return frozenset()

    def _email(self, user_id: str) -> str | None:
        """The trusted email (``core.identity.trusted_email``) of a Slack user, lower case: what on-call matches."""
        email = trusted_email(self.directory.user(user_id))
        return email.lower() if email else None

    def includes(self, user_id: str, principals: Iterable[str]) -> bool:
        """Whether ``principals`` name ``user_id``: their id, a Slack user group they are in, an Identity Center
        group whose members include the Identity Store user their trusted email matches, or an on-call schedule
        (PagerDuty, Opsgenie) they are on call for now by that email (``Unavailable`` when Identity Center or the
        on-call provider cannot be asked)."""
        entries = list(principals)
        if user_id in entries or any(GROUP_ID.match(p) and user_id in self.directory.group_members(p)
                                     for p in entries):
            return True
        idc_entries = [p for p in entries if is_idc_group(p)]
        person = self.idc_user_id(user_id) if idc_entries else None
        if person is not None and any(person in self.idc_members(p)[1] for p in idc_entries):
            return True
        on_call = [p for p in entries if is_on_call(p)]
        email = self._email(user_id) if on_call else None
        return email is not None and any(email in self.on_call_now(p) for p in on_call)

    def eligible_count(self, principals: Iterable[str], excluding: str) -> int:
        """How many people ``principals`` name other than ``excluding``: Slack users, and Identity Center group
        members (a person named both ways counts twice: the check it serves, "could this ever be approved", then
        errs towards yes)."""
        entries = list(principals)
        count = len(self.expand(entries) - {excluding})
        idc_entries = [p for p in entries if is_idc_group(p)]
        if idc_entries:
            members: set[str] = set()
            for entry in idc_entries:
                members |= self.idc_members(entry)[1]
            count += len(members - {self.idc_user_id(excluding)})
        on_call = [p for p in entries if is_on_call(p)]
        if on_call:
            people: set[str] = set()
            for entry in on_call:
                people |= self.on_call_now(entry)
            count += len(people - {self._email(excluding)})
        return count

    def expand(self, principals: Iterable[str]) -> frozenset[str]:
        """Slack user ids named directly or through Slack user groups (live membership, cached by the adapter).
        Identity Center groups name Identity Store users, not Slack users: ``includes`` checks them."""
        users: set[str] = set()
        for principal in principals:
            if GROUP_ID.match(principal):
                users |= self.directory.group_members(principal)
            elif not is_idc_group(principal) and not is_on_call(principal):
                users.add(principal)
        return frozenset(users)

    def basis(self, user_id: str, principals: Iterable[str] | None) -> dict[str, Any]:
        """Why ``principals`` (a requesters, approvers, deny or revokers list) name ``user_id``, for the audit event
        of a decision that relied on it: ``via``, the entries naming them (their own id, or user groups they are
        in), and ``groups``, each such group's members as jitbot read them for this decision (members can edit
        many groups: this is what makes a later change traceable). ``None`` means everyone."""
        if principals is None:
            return {"via": ["everyone"], "groups": {}}
        via: list[str] = []
        groups: dict[str, Any] = {}
        person: str | None = None
        for principal in principals:
            if GROUP_ID.match(principal):
                members = self.directory.group_members(principal)
                if user_id in members:
                    via.append(principal)
                    groups[principal] = membership(members)
            elif is_idc_group(principal):
                person = person or self.idc_user_id(user_id)
                group_id, members = self.idc_members(principal)
                if person is not None and person in members:
                    via.append(principal)
                    groups[principal] = {**membership(members), "group_id": group_id, "identity_store_user": person}
            elif is_on_call(principal):
                email = self._email(user_id)
                on_call = self.on_call_now(principal)
                if email is not None and email in on_call:
                    via.append(principal)
                    groups[principal] = {"schedule": schedule_of(principal), "on_call": sorted(on_call),
                                         "email": email}
            elif principal == user_id:
                via.append(principal)
        return {"via": via, "groups": groups}

    def requester(self, user_id: str) -> Requester:
        """The person as policies see them: Slack groups, Identity Center groups and attributes, principal tags.
        ``Unavailable`` when Identity Center (or IAM, for tags a Cedar statement reads) cannot be asked: a deny
        list or a forbid could name them, so nothing is decided without it."""
        policies = self.policies()
        info = self.directory.user(user_id)
        email = trusted_email(info)
        groups = {g for g in policies.referenced_groups() if user_id in self.directory.group_members(g)}
        store, cedar = self.identity_store(), policies.cedar
        idc_entries = policies.referenced_idc_groups()
        person = idc_identity(store, info) if store is not None and (idc_entries or cedar is not None) else None
        idc_user, idc_groups = None, frozenset[str]()
        if store is not None and person is not None:
            idc_groups = store.groups_of(person)
            groups |= {e for e in idc_entries if (found := store.group(idc_group_ref(e))) is not None
                       and found.group_id in idc_groups}
            idc_user = store.user(person) if cedar is not None else None
        principal = policies.principal_for(user_id, email) or (idc_user_principal(person) if person else None)
        tags: dict[str, str] = {}
        if cedar is not None and cedar.reads_principal_tags and principal and ":iam::" in principal \
                and self.principal_tags is not None:
            tags = dict(self.principal_tags.principal_tags(principal))

        def on_call(entry: str) -> bool:  # asked only when a list that could decide names a schedule
            return email is not None and email.lower() in self.on_call_now(entry)

        return Requester(user_id, frozenset(groups), email=email, idc_user=idc_user, idc_groups=idc_groups,
                         principal_arn=principal, principal_tags=tags, on_call=on_call)

    def find(self, request_id: str) -> AccessRequest | None:
        with self.uow() as uow:
            return uow.repo.get(request_id)

    def load(self, request_id: str) -> AccessRequest:
        """The request, or ``NotFound`` with a message for the user."""
        request = self.find(request_id)
        if request is None:
            raise NotFound(T("There is no request {id}.", id=request_id))
        return request


#: members listed in an audit event per group; beyond, the count and a digest of the whole list still pin it down
MAX_LISTED_MEMBERS = 500


def membership(members: Iterable[str]) -> dict[str, Any]:
    """A group's members as an audit event records them: sorted ids (at most ``MAX_LISTED_MEMBERS``), their count,
    and the SHA-256 of the whole sorted list (one id per line)."""
    ids = sorted(members)
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return {"members": ids[:MAX_LISTED_MEMBERS], "count": len(ids), "sha256": digest}


# -- messages owed: recorded in the transaction of the change that owes them, sent by core.outbox ----------
@dataclass(frozen=True)
class Say:
    """The notice a state change owes (``transition(..., say=Say(...))``): the Event but its request, which is
    the request as the change leaves it."""

    notice: Notice
    actor: str | None = None
    reason: str | None = None
    level: int | None = None
    sessions: int | None = None


def opened_levels(request: AccessRequest) -> range:
    """The levels whose approval message was posted (or is owed): a manual request's, up to its current one."""
    if request.kind is not Kind.MANUAL or not request.levels:
        return range(0)
    return range(min(request.current_level, len(request.levels) - 1) + 1)


def owe(uow: UnitOfWork, event: Event, at: datetime, *, threads: str = "all") -> None:
    """Owe ``event``'s notice: the requester's DM, the replies in ``threads`` ("all" of the request's approval
    messages, "none", or some of them: "level-0,level-1"), the audit line."""
    uow.repo.owe(Intent(Send.NOTICE, event.request.id, event=event, threads=threads), at)


def owe_level(uow: UnitOfWork, request: AccessRequest, level: int, at: datetime) -> None:
    """Owe the approval message of ``level`` (where it went is recorded when Slack answers)."""
    uow.repo.owe(Intent(Send.APPROVAL, request.id, level=level), at)


def owe_update(uow: UnitOfWork, request: AccessRequest, level: int, at: datetime) -> None:
    """Owe a re-render of ``level``'s approval message, as the request stands when it is sent."""
    uow.repo.owe(Intent(Send.UPDATE, request.id, level=level), at)


def owe_close_out(uow: UnitOfWork, event: Event, at: datetime) -> None:
    """A pending request ended: every approval message loses its buttons, then everyone is told."""
    for level in opened_levels(event.request):
        owe_update(uow, event.request, level, at)
    owe(uow, event, at)


def owe_event(uow: UnitOfWork, request: AccessRequest, source: State | None, *, action: str, actor: str,
              at: datetime, reason: str | None = None) -> None:
    """Owe the lifecycle event (``core.events``) of ``request`` reaching its state from ``source`` (None: it was
    created so): every transition owes one, in its transaction."""
    event = lifecycle_change(request, source, request.state, action=action, actor=actor, at=at, reason=reason)
    uow.repo.owe(Intent(Send.EVENT, request.id, change=event), at)


def record(uow: UnitOfWork, request_id: str | None, actor: str, action: Action, at: Any,
           **detail: Any) -> None:
    uow.repo.add_event(AuditEvent(request_id=request_id, at=at, actor=actor, action=action, detail=detail))


def reviews(uow: UnitOfWork, request_id: str) -> list[Review]:
    """The reviews of a break-glass use, as its audit events recorded them (at most one is ever accepted)."""
    return [Review(request_id, e.actor, e.at, bool(e.detail.get("justified")), str(e.detail.get("note") or ""))
            for e in uow.repo.events(request_id) if e.action == Action.BREAKGLASS_REVIEWED]


def transition(uow: UnitOfWork, request: AccessRequest, target: State, *, actor: str, action: Action, at: Any,
               changes: Changes = Changes(), expect: Expect = Expect(), detail: Mapping[str, Any] | None = None,
               say: Say | None = None) -> bool:
    """Move ``request`` from its current state to ``target`` if nobody else did first (``Repository.move``); audit
    it on success, and owe ``say``'s notice in the same transaction (a pending request that ends also owes the
    updates of its approval messages, whose buttons go)."""
    if not can_transition(request.state, target):
        raise ValueError(f"{request.state} → {target} is not a lifecycle transition")
    ok = uow.repo.move(request, target, changes, expect=expect)
    if ok:
        record(uow, request.id, actor, action, at, **{"from": request.state.value, "to": target.value,
                                                     **(detail or {})})
        reason = (say.reason if say is not None else None) or (detail or {}).get("reason") \
            or changes.written().get("end_reason")
        owe_event(uow, changes.apply(request, target), request.state, action=action, actor=actor,
                  at=at, reason=str(reason) if reason else None)
        if say is not None:
            event = Event(say.notice, changes.apply(request, target), actor=say.actor,
                          reason=say.reason, level=say.level, sessions=say.sessions)
            if request.state is State.PENDING and target.is_final:
                owe_close_out(uow, event, at)
            else:
                owe(uow, event, at)
    return ok
