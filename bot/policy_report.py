"""``jitbot policies check``: a summary of the policy file and the warnings only Slack, IAM Identity Center and AWS
can confirm, in the command line's language (``bot/language.py``); ``jitbot policies explain`` is
``bot/policy_explain.py``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from bot.language import policy_error
from core.errors import Unavailable
from core.i18n import ENGLISH, Tr
from core.idc import idc_group_ref, is_idc_group
from core.model import UserInfo
from core.oncall import is_on_call
from core.policy import PolicyError, PolicyFile, load_policies
from core.policy.cedar_rules import CedarForbid, CedarPermit
from core.policy.schema import GROUP_ID, USER_ID, AutoApprovalPolicy, Level, ManualApprovalPolicy
from core.policy.schema import PolicySettings as Settings_
from core.ports import IdentityStore

if TYPE_CHECKING:
    from bot.settings import Settings


def _continuous(policy: AutoApprovalPolicy | ManualApprovalPolicy, tr: Tr) -> str:
    """The limits beyond max_duration: continuous access through extensions, how far ahead a start may be, how
    many nodes one request may name."""
    ahead = tr(", scheduled up to {duration} ahead", duration=policy.max_start_ahead) if policy.max_start_ahead else ""
    ahead += tr(", up to {count} nodes per request", count=policy.max_nodes) if policy.max_nodes > 1 else ""
    if policy.max_continuous is None:
        return ahead
    return tr(", at most {duration} continuous with extensions", duration=policy.max_continuous) + ahead


def _who(requesters: tuple[str, ...] | None, tr: Tr) -> str:
    return ", ".join(requesters) if requesters else tr("everyone")


def _settings_line(s: Settings_, tr: Tr) -> str:
    return tr("settings: timezone {timezone}, {channel}, {digest}, approval timeout {timeout}, {reminders}, "
              "{warning}, {limit}", timezone=s.timezone,
              channel=tr("audit channel {channel}", channel=s.audit_channel) if s.audit_channel
              else tr("audit channel (none)"),
              digest=tr("digest {time}", time=s.digest_time.strftime("%H:%M")) if s.digest_time
              else tr("digest off"), timeout=s.approval_timeout,
              reminders=tr("reminders every {interval}", interval=s.reminder_interval) if s.reminder_interval
              else tr("reminders every never"),
              warning=tr("expiry warning {duration}", duration=s.expiry_warning) if s.expiry_warning
              else tr("expiry warning off"),
              limit=tr.plural("at most {count} open request per person", "at most {count} open requests per person",
                              s.max_active_grants)
              if s.max_active_grants else tr("no limit"))


def summary(policies: PolicyFile, source: str, tr: Tr = ENGLISH) -> str:
    s = policies.settings
    lines = [tr("{source}: OK", source=source), "", _settings_line(s, tr),
             tr("identities: {identities}; other accounts: {accounts}", identities=len(policies.identities),
                accounts=len(policies.accounts)), ""]
    for deny in policies.deny:
        targets, who = tr.text(deny.targets.describe()), _who(deny.requesters, tr)
        lines.append(tr("deny '{name}': {targets} for {who} (refused)", name=deny.name, targets=targets, who=who)
                     if deny.block == "all" else
                     tr("deny '{name}': {targets} for {who} (no auto-approval)", name=deny.name, targets=targets,
                        who=who))
    for auto in policies.auto_approval:
        lines.append(tr("auto-approval '{name}': {targets} for {who}, up to {duration}", name=auto.name,
                        targets=tr.text(auto.targets.describe()), who=_who(auto.requesters, tr),
                        duration=auto.max_duration) + _continuous(auto, tr))
    cedar = policies.cedar
    if cedar is not None:
        statements: list[CedarPermit | CedarForbid] = [*cedar.forbids, *cedar.permits]
        for statement in statements:
            effect = (tr("auto-approval, up to {duration}", duration=statement.max_duration)
                      if isinstance(statement, CedarPermit) else
                      tr("deny: refused") if statement.block == "all" else tr("deny: no auto-approval"))
            lines.append(tr("Cedar '{name}' ({origin}): {effect}", name=statement.name, origin=statement.origin,
                            effect=effect))
    for manual in policies.manual_approval:
        lines.append(tr("manual approval '{name}': {targets} for {who}, up to {duration} (default {default})",
                        name=manual.name, targets=tr.text(manual.targets.describe()),
                        who=_who(manual.requesters, tr), duration=manual.max_duration,
                        default=manual.duration_default) + _continuous(manual, tr))
        for index, level in enumerate(manual.levels, 1):
            lines.append("    " + tr("level {number} '{name}': {required} of {approvers} in {channel}",
                                     number=index, name=level.name or tr("Level {number}", number=index),
                                     required=level.required, approvers=", ".join(level.approvers),
                                     channel=level.channel) + _escalation(level, tr))
    if s.revokers:
        lines.append(tr("revokers (any request, /jit lockout): {revokers}", revokers=", ".join(s.revokers)))
    if policies.breakglass.requesters:
        lines.append(tr("break-glass: {requesters}, up to {duration}, reviewed by level 1 of the manual policy",
                        requesters=", ".join(policies.breakglass.requesters),
                        duration=policies.breakglass.max_duration))
    if not (policies.deny or policies.auto_approval or policies.manual_approval or cedar):
        lines.append(tr("no policies: every request will be refused"))
    return "\n".join(lines)


# --- what only Slack can confirm ------------------------------------------------------------------------

class SlackUnavailable(Exception):
    """Slack could not be asked (bad token, missing scope, network)."""


@dataclass
class SlackProbe:
    """Read-only questions to Slack's Web API, each asked once."""

    client: Any
    _users: dict[str, UserInfo | None] = field(default_factory=dict)
    _groups: dict[str, frozenset[str] | None] = field(default_factory=dict)
    _channels: dict[str, bool | None] = field(default_factory=dict)

    def _ask(self, method: str, missing: tuple[str, ...], **params: str) -> dict[str, Any] | None:
        from slack_sdk.errors import SlackApiError, SlackClientError

        try:
            return dict(self.client.api_call(method, http_verb="GET", params=params).data)
        except SlackApiError as err:
            if err.response.get("error") in missing:
                return None
            raise SlackUnavailable(f"{method}: {err.response.get('error')}") from None
        except (SlackClientError, OSError) as err:
            raise SlackUnavailable(f"{method}: {err}") from None

    def user(self, user_id: str) -> UserInfo | None:
        if user_id not in self._users:
            data = self._ask("users.info", ("user_not_found",), user=user_id)
            found = (data or {}).get("user")
            self._users[user_id] = None if not found else UserInfo(
                id=user_id, name=found.get("real_name") or found.get("name"), deleted=bool(found.get("deleted")))
        return self._users[user_id]

    def group_members(self, group_id: str) -> frozenset[str] | None:
        if group_id not in self._groups:
            data = self._ask("usergroups.users.list", ("no_such_subteam", "subteam_not_found"), usergroup=group_id)
            self._groups[group_id] = None if data is None else frozenset(data.get("users") or ())
        return self._groups[group_id]

    def is_member(self, channel: str) -> bool | None:
        """True/False: the bot is (not) in the channel; None: no such channel (or private without the bot)."""
        if channel not in self._channels:
            data = self._ask("conversations.info", ("channel_not_found",), channel=channel)
            self._channels[channel] = None if data is None else bool((data.get("channel") or {}).get("is_member"))
        return self._channels[channel]


def _escalation(level: Level, tr: Tr) -> str:
    if level.escalate_after is None:
        return ""
    people = ", ".join(level.escalate_to)
    if level.escalate_channel:
        return tr("; after {duration}, also {people} in {channel}", duration=level.escalate_after, people=people,
                  channel=level.escalate_channel)
    return tr("; after {duration}, also {people} in its thread", duration=level.escalate_after, people=people)


def _principal_lists(policies: PolicyFile) -> Iterator[tuple[str, tuple[str, ...]]]:
    for kind in ("deny", "auto_approval", "manual_approval"):
        for index, policy in enumerate(getattr(policies, kind)):
            if policy.requesters:
                yield f"{kind}[{index}].requesters", policy.requesters
    for index, manual in enumerate(policies.manual_approval):
        for number, level in enumerate(manual.levels):
            yield f"manual_approval[{index}].levels[{number}].approvers", level.approvers
            if level.escalate_to:
                yield f"manual_approval[{index}].levels[{number}].escalate_to", level.escalate_to
    if policies.breakglass.requesters:
        yield "breakglass.requesters", policies.breakglass.requesters
    if policies.settings.revokers:
        yield "settings.revokers", policies.settings.revokers
    if policies.cedar is not None:
        yield policies.cedar.source, tuple(sorted(policies.cedar.groups))


def group_warnings(policies: PolicyFile, tr: Tr = ENGLISH) -> list[str]:
    """One line per user group that carries authority, listing where the file uses it. jitbot reads groups live
    and cannot tell who may edit one (in many workspaces, any member): only the operator can make sure."""
    used: dict[str, list[str]] = {}
    for where, principals in _principal_lists(policies):
        for principal in principals:
            if GROUP_ID.match(principal) and where not in used.setdefault(principal, []):
                used[principal].append(where)
    return [tr("user group {group} ({places}): whoever can edit its members decides who is listed there (a member "
               "could add themselves, or take themselves off a deny list); make sure only workspace admins or your "
               "identity provider can change it", group=group, places=", ".join(places))
            for group, places in used.items()]


def _slack_warnings(policies: PolicyFile, slack: SlackProbe, tr: Tr) -> list[str]:
    out = []
    for where, principals in _principal_lists(policies):
        for principal in principals:
            if GROUP_ID.match(principal):
                members = slack.group_members(principal)
                if members is None:
                    out.append(tr("{where}: {principal} is not a Slack user group", where=where, principal=principal))
                elif not members:
                    out.append(tr("{where}: user group {principal} has no members", where=where, principal=principal))
            elif USER_ID.match(principal):
                user = slack.user(principal)
                if user is None:
                    out.append(tr("{where}: {principal} is not a Slack user", where=where, principal=principal))
                elif user.deleted:
                    out.append(tr("{where}: {principal} is a deactivated Slack user", where=where,
                                  principal=principal))
    for index, manual in enumerate(policies.manual_approval):
        for number, level in enumerate(manual.levels):
            if any(is_idc_group(p) or is_on_call(p) for p in level.approvers):
                continue  # Identity Center members and on-call people are not Slack ids: checked apart
            people: set[str] = set()
            for principal in level.approvers:
                people |= (slack.group_members(principal) or frozenset()) if GROUP_ID.match(principal) else {principal}
            able = {p for p in people if (u := slack.user(p)) is not None and not u.deleted}
            if len(able) < level.required:
                where = f"manual_approval[{index}].levels[{number}].required"
                out.append(tr.plural(
                    "{where}: needs {approvals} but only {count} person can approve once groups are expanded; this "
                    "level can never be satisfied", "{where}: needs {approvals} but only {count} people can approve "
                    "once groups are expanded; this level can never be satisfied", len(able), where=where,
                    approvals=tr.plural("{count} approval", "{count} approvals", level.required)))
    channels = [("settings.audit_channel", policies.settings.audit_channel)] + [
        (f"manual_approval[{i}].levels[{n}].{key}", channel)
        for i, manual in enumerate(policies.manual_approval) for n, level in enumerate(manual.levels)
        for key, channel in (("channel", level.channel), ("escalate_channel", level.escalate_channel)) if channel]
    for where, channel in channels:
        if channel is None:
            continue
        member = slack.is_member(channel)
        if member is None:
            out.append(tr("{where}: channel {channel} does not exist (or is private and the bot is not in it)",
                          where=where, channel=channel))
        elif not member:
            out.append(tr("{where}: the bot is not a member of channel {channel}; invite it (/invite @jitbot) or "
                          "its messages cannot be posted there", where=where, channel=channel))
    return out


def warnings(policies: PolicyFile, slack: SlackProbe | None, tr: Tr = ENGLISH) -> list[str]:
    """What may go wrong at run time although the file is valid; Slack's part only with a ``SlackProbe``."""
    out = []
    glass = policies.breakglass
    if glass.requesters and not any(m.targets.all and not m.targets.accounts for m in policies.manual_approval):
        out.append(tr("breakglass.requesters: no manual-approval policy targets \"all\": break-glass is refused on "
                      "nodes no manual policy covers (nobody could review it)"))
    if slack is None:
        return out
    try:
        return out + _slack_warnings(policies, slack, tr)
    except SlackUnavailable as err:
        return [*out, tr("Slack could not be asked ({error}): user and group ids, group sizes and channel membership "
                         "are not checked", error=err)]


# --- what only IAM Identity Center can confirm -------------------------------------------------------------

def idc_problems(policies: PolicyFile, store: IdentityStore, tr: Tr = ENGLISH) -> tuple[list[str], list[str]]:
    """(errors, warnings): every ``idc-group:`` entry and Cedar Identity Store group resolved in the identity store;
    an unknown group is an error located where the file names it, an empty one a warning. ``Unavailable`` when
    Identity Center cannot be asked."""
    errors: list[str] = []
    found: list[str] = []
    store_id = policies.identity_center.identity_store_id if policies.identity_center else ""
    for where, entries in policies.principal_lists():
        for index, entry in enumerate(entries):
            if not is_idc_group(entry):
                continue
            group, at = store.group(idc_group_ref(entry)), f"{where}[{index}]"
            if group is None:
                errors.append(tr("{where}: '{entry}': identity store {store} has no group with this GroupId or "
                                 "DisplayName", where=at, entry=entry, store=store_id))
            elif not store.group_member_ids(group.group_id):
                found.append(tr("{where}: Identity Center group '{name}' ({id}) has no members", where=at,
                                name=group.display_name, id=group.group_id))
    for index, manual in enumerate(policies.manual_approval):
        for number, level in enumerate(manual.levels):
            found += _idc_level(f"manual_approval[{index}].levels[{number}]", level, store, tr)
    if policies.cedar is not None:
        for group_id, at in sorted(policies.cedar.idc_groups.items()):
            group = store.group(group_id)
            if group is None or group.group_id != group_id:
                errors.append(tr('{where}: AWS::IdentityStore::Group::"{group}" is not a group of identity store '
                                 '{store}', where=at, group=group_id, store=store_id))
    return errors, found


def _idc_level(where: str, level: Level, store: IdentityStore, tr: Tr) -> list[str]:
    """A level of Slack users and Identity Center groups only, with fewer people than it requires."""
    if not any(is_idc_group(e) for e in level.approvers) or any(GROUP_ID.match(e) for e in level.approvers):
        return []
    people: set[str] = {e for e in level.approvers if not is_idc_group(e)}
    for entry in level.approvers:
        group = store.group(idc_group_ref(entry)) if is_idc_group(entry) else None
        people |= store.group_member_ids(group.group_id) if group is not None else set()
    if len(people) >= level.required:
        return []
    at = f"{where}.required"
    return [tr.plural("{where}: needs {approvals} but only {count} person is listed once Identity Center groups "
                      "are expanded; this level can never be satisfied", "{where}: needs {approvals} but only "
                      "{count} people are listed once Identity Center groups are expanded; this level can never be "
                      "satisfied", len(people), where=at,
                      approvals=tr.plural("{count} approval", "{count} approvals", level.required))]


def _identity_store(settings: Settings, policies: PolicyFile) -> IdentityStore | None:
    if policies.identity_center is None:
        return None
    from bot.root import aws_gateway, identity_center

    store, _ = identity_center(aws_gateway(settings, lambda: policies, attempts=2), lambda: policies)
    return store


def _settings() -> Settings:
    from bot.settings import Settings

    return Settings()


def _section(heading: str, items: list[str], file: TextIO | None = None) -> None:
    """A heading and its indented lines, after an empty line (to stdout unless ``file``)."""
    print("\n" + heading, file=file)
    print("\n".join(f"  {item}" for item in items), file=file)


def _check(args: argparse.Namespace) -> int:
    settings, tr = _settings(), args.tr
    path = args.path or settings.jit_policies
    try:
        policies = load_policies(path)
    except PolicyError as err:
        print(policy_error(err, tr), file=sys.stderr)
        return 1
    print(summary(policies, path, tr))
    token = settings.secret("slack_bot_token")
    probe = None
    if token and not args.offline:
        from bot.root import slack_client

        probe = SlackProbe(slack_client(settings))
    found = warnings(policies, probe, tr)
    if found:
        _section(tr("warnings:"), found)
    code = 2 if args.strict and found else 0
    store = None if args.offline else _identity_store(settings, policies)
    if store is not None:
        try:
            idc_errors, idc_warnings = idc_problems(policies, store, tr)
        except Unavailable as err:
            print("\n" + tr("note: IAM Identity Center could not be asked ({error}): idc-group entries and Identity "
                            "Store groups are not checked", error=err.say(tr)))
        else:
            if idc_warnings:
                _section(tr("warnings: IAM Identity Center"), idc_warnings)
                code = 2 if args.strict else code
            if idc_errors:
                _section(tr("errors: IAM Identity Center"), idc_errors, sys.stderr)
                code = 1
    from bot import opsgenie, pagerduty

    for provider, module in (("PagerDuty", pagerduty), ("Opsgenie", opsgenie)):
        oc_errors, oc_warnings, oc_notes = module.report(policies, settings, args.offline)
        if oc_warnings:
            _section(tr("warnings: {provider}", provider=provider), oc_warnings)
            code = 2 if args.strict else code
        if oc_errors:
            _section(tr("errors: {provider}", provider=provider), oc_errors, sys.stderr)
            code = 1
        print("\n".join(f"\n{n}" for n in oc_notes), end="\n" if oc_notes else "")
    groups = group_warnings(policies, tr)
    if groups:  # not counted by --strict: true of every file that names a group, however well it is managed
        _section(tr("warnings: user groups with authority (not counted by --strict)"), groups)
    from bot import evidence_check

    evidence, warned = evidence_check.report(policies, settings, args.offline, tr)  # session logs, the [events] bus
    if evidence:
        print("\n" + "\n".join(evidence))
        code = 2 if args.strict and warned else code
    if probe is None:
        print("\n" + (tr("note: Slack not asked (--offline): user and group ids, group sizes and channel membership "
                         "are not checked") if args.offline else
                      tr("note: Slack not asked (no SLACK_BOT_TOKEN): user and group ids, group sizes and channel "
                         "membership are not checked")))
    return code


def configure_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="policy file (default: $JIT_POLICIES or policies.toml)")
    parser.add_argument("--offline", action="store_true", help="do not ask Slack, even with SLACK_BOT_TOKEN set")
    parser.add_argument("--strict", action="store_true", help="exit 2 when there are warnings")
    parser.set_defaults(func=_check)
