"""``jitbot policies check`` and ``jitbot policies explain``: a summary of the policy file, the warnings only
Slack can confirm, and what would happen if someone asked for a node."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.durations import DurationError, format_duration, parse_duration
from core.errors import JitError, Unavailable
from core.idc import idc_group_ref, is_idc_group
from core.model import Node, UserInfo
from core.oncall import is_on_call
from core.policy import PolicyError, PolicyFile, load_policies
from core.policy.cedar_rules import CedarForbid, CedarPermit
from core.policy.evaluate import Requester
from core.policy.schema import GROUP_ID, USER_ID, AutoApprovalPolicy, Level, ManualApprovalPolicy
from core.ports import IdentityStore

if TYPE_CHECKING:
    from bot.settings import Settings


def _continuous(policy: AutoApprovalPolicy | ManualApprovalPolicy) -> str:
    """The limits beyond max_duration: continuous access through extensions, how far ahead a start may be, how
    many nodes one request may name."""
    ahead = f", scheduled up to {format_duration(policy.max_start_ahead)} ahead" if policy.max_start_ahead else ""
    ahead += f", up to {policy.max_nodes} nodes per request" if policy.max_nodes > 1 else ""
    if policy.max_continuous is None:
        return ahead
    return f", at most {format_duration(policy.max_continuous)} continuous with extensions{ahead}"


def summary(policies: PolicyFile, source: str) -> str:
    s = policies.settings
    limit = f"at most {s.max_active_grants} open request(s) per person" if s.max_active_grants else "no limit"
    lines = [f"{source}: OK", "",
             f"settings: timezone {s.timezone}, audit channel {s.audit_channel or '(none)'}, "
             f"digest {s.digest_time.strftime('%H:%M') if s.digest_time else 'off'}, "
             f"approval timeout {format_duration(s.approval_timeout)}, "
             f"reminders every {format_duration(s.reminder_interval) if s.reminder_interval else 'never'}, "
             f"expiry warning {format_duration(s.expiry_warning) if s.expiry_warning else 'off'}, {limit}",
             f"identities: {len(policies.identities)}; other accounts: {len(policies.accounts)}", ""]
    for deny in policies.deny:
        who = ", ".join(deny.requesters) if deny.requesters else "everyone"
        lines.append(f"deny '{deny.name}': {deny.targets.describe()} for {who} "
                     f"({'refused' if deny.block == 'all' else 'no auto-approval'})")
    for auto in policies.auto_approval:
        who = ", ".join(auto.requesters) if auto.requesters else "everyone"
        lines.append(f"auto-approval '{auto.name}': {auto.targets.describe()} for {who}, "
                     f"up to {format_duration(auto.max_duration)}{_continuous(auto)}")
    cedar = policies.cedar
    if cedar is not None:
        statements: list[CedarPermit | CedarForbid] = [*cedar.forbids, *cedar.permits]
        for statement in statements:
            effect = ("auto-approval, up to " + format_duration(statement.max_duration)
                      if isinstance(statement, CedarPermit) else
                      "deny: " + ("refused" if statement.block == "all" else "no auto-approval"))
            lines.append(f"Cedar '{statement.name}' ({statement.origin}): {effect}")
    for manual in policies.manual_approval:
        who = ", ".join(manual.requesters) if manual.requesters else "everyone"
        lines.append(f"manual approval '{manual.name}': {manual.targets.describe()} for {who}, "
                     f"up to {format_duration(manual.max_duration)} "
                     f"(default {format_duration(manual.duration_default)}){_continuous(manual)}")
        for index, level in enumerate(manual.levels, 1):
            lines.append(f"    level {index} '{level.name or f'Level {index}'}': {level.required} of "
                         f"{', '.join(level.approvers)} in {level.channel}{_escalation(level)}")
    if s.revokers:
        lines.append(f"revokers (any request, /jit lockout): {', '.join(s.revokers)}")
    if policies.breakglass.requesters:
        lines.append(f"break-glass: {', '.join(policies.breakglass.requesters)}, up to "
                     f"{format_duration(policies.breakglass.max_duration)}, reviewed by level 1 of the manual policy")
    if not (policies.deny or policies.auto_approval or policies.manual_approval or cedar):
        lines.append("no policies: every request will be refused")
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


def _escalation(level: Level) -> str:
    if level.escalate_after is None:
        return ""
    where = f" in {level.escalate_channel}" if level.escalate_channel else " in its thread"
    return f"; after {format_duration(level.escalate_after)}, also {', '.join(level.escalate_to)}{where}"


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


def group_warnings(policies: PolicyFile) -> list[str]:
    """One line per user group that carries authority, listing where the file uses it. jitbot reads groups live
    and cannot tell who may edit one (in many workspaces, any member): only the operator can make sure."""
    used: dict[str, list[str]] = {}
    for where, principals in _principal_lists(policies):
        for principal in principals:
            if GROUP_ID.match(principal) and where not in used.setdefault(principal, []):
                used[principal].append(where)
    return [f"user group {group} ({', '.join(places)}): whoever can edit its members decides who is listed there (a "
            "member could add themselves, or take themselves off a deny list); "
            "make sure only workspace admins or your identity provider can change it" for group, places in used.items()]


def _slack_warnings(policies: PolicyFile, slack: SlackProbe) -> list[str]:
    out = []
    for where, principals in _principal_lists(policies):
        for principal in principals:
            if GROUP_ID.match(principal):
                members = slack.group_members(principal)
                if members is None:
                    out.append(f"{where}: {principal} is not a Slack user group")
                elif not members:
                    out.append(f"{where}: user group {principal} has no members")
            elif USER_ID.match(principal):
                user = slack.user(principal)
                if user is None:
                    out.append(f"{where}: {principal} is not a Slack user")
                elif user.deleted:
                    out.append(f"{where}: {principal} is a deactivated Slack user")
    for index, manual in enumerate(policies.manual_approval):
        for number, level in enumerate(manual.levels):
            if any(is_idc_group(p) or is_on_call(p) for p in level.approvers):
                continue  # Identity Center members and on-call people are not Slack ids: checked apart
            people: set[str] = set()
            for principal in level.approvers:
                people |= (slack.group_members(principal) or frozenset()) if GROUP_ID.match(principal) else {principal}
            able = {p for p in people if (u := slack.user(p)) is not None and not u.deleted}
            if len(able) < level.required:
                out.append(f"manual_approval[{index}].levels[{number}].required: needs {level.required} approval(s) "
                           f"but only {len(able)} person(s) can approve once groups are expanded; this level can "
                           "never be satisfied")
    channels = [("settings.audit_channel", policies.settings.audit_channel)] + [
        (f"manual_approval[{i}].levels[{n}].{key}", channel)
        for i, manual in enumerate(policies.manual_approval) for n, level in enumerate(manual.levels)
        for key, channel in (("channel", level.channel), ("escalate_channel", level.escalate_channel)) if channel]
    for where, channel in channels:
        if channel is None:
            continue
        member = slack.is_member(channel)
        if member is None:
            out.append(f"{where}: channel {channel} does not exist (or is private and the bot is not in it)")
        elif not member:
            out.append(f"{where}: the bot is not a member of channel {channel}; invite it (/invite @jitbot) or "
                       "its messages cannot be posted there")
    return out


def warnings(policies: PolicyFile, slack: SlackProbe | None) -> list[str]:
    """What may go wrong at run time although the file is valid; Slack's part only with a ``SlackProbe``."""
    out = []
    glass = policies.breakglass
    if glass.requesters and not any(m.targets.all and not m.targets.accounts for m in policies.manual_approval):
        out.append("breakglass.requesters: no manual-approval policy targets \"all\": break-glass is refused on "
                   "nodes no manual policy covers (nobody could review it)")
    if slack is None:
        return out
    try:
        return out + _slack_warnings(policies, slack)
    except SlackUnavailable as err:
        return [*out, f"Slack could not be asked ({err}): user and group ids, group sizes and channel membership "
                      "are not checked"]


# --- what only IAM Identity Center can confirm -------------------------------------------------------------

def idc_problems(policies: PolicyFile, store: IdentityStore) -> tuple[list[str], list[str]]:
    """(errors, warnings): every ``idc-group:`` entry and Cedar Identity Store group resolved in the identity store;
    an unknown group is an error located where the file names it, an empty one a warning. ``Unavailable`` when
    Identity Center cannot be asked."""
    errors: list[str] = []
    found: list[str] = []
    where_store = f"identity store {policies.identity_center.identity_store_id}" if policies.identity_center else ""
    for where, entries in policies.principal_lists():
        for index, entry in enumerate(entries):
            if not is_idc_group(entry):
                continue
            group = store.group(idc_group_ref(entry))
            if group is None:
                errors.append(f"{where}[{index}]: '{entry}': {where_store} has no group with this GroupId or "
                              "DisplayName")
            elif not store.group_member_ids(group.group_id):
                found.append(f"{where}[{index}]: Identity Center group '{group.display_name}' ({group.group_id}) "
                             "has no members")
    for index, manual in enumerate(policies.manual_approval):
        for number, level in enumerate(manual.levels):
            found += _idc_level(f"manual_approval[{index}].levels[{number}]", level, store)
    if policies.cedar is not None:
        for group_id, at in sorted(policies.cedar.idc_groups.items()):
            group = store.group(group_id)
            if group is None or group.group_id != group_id:
                errors.append(f'{at}: AWS::IdentityStore::Group::"{group_id}" is not a group of {where_store}')
    return errors, found


def _idc_level(where: str, level: Level, store: IdentityStore) -> list[str]:
    """A level of Slack users and Identity Center groups only, with fewer people than it requires."""
    if not any(is_idc_group(e) for e in level.approvers) or any(GROUP_ID.match(e) for e in level.approvers):
        return []
    people: set[str] = {e for e in level.approvers if not is_idc_group(e)}
    for entry in level.approvers:
        group = store.group(idc_group_ref(entry)) if is_idc_group(entry) else None
        people |= store.group_member_ids(group.group_id) if group is not None else set()
    if len(people) >= level.required:
        return []
    return [f"{where}.required: needs {level.required} approval(s) but only {len(people)} person(s) are listed once "
            "Identity Center groups are expanded; this level can never be satisfied"]


def _identity_store(settings: Settings, policies: PolicyFile) -> IdentityStore | None:
    if policies.identity_center is None:
        return None
    from bot.root import aws_gateway, identity_center

    store, _ = identity_center(aws_gateway(settings, lambda: policies, attempts=2), lambda: policies)
    return store


def _settings() -> Settings:
    from bot.settings import Settings

    return Settings()


def _check(args: argparse.Namespace) -> int:
    settings = _settings()
    path = args.path or settings.jit_policies
    try:
        policies = load_policies(path)
    except PolicyError as err:
        print(err, file=sys.stderr)
        return 1
    print(summary(policies, path))
    token = settings.secret("slack_bot_token")
    probe = None
    if token and not args.offline:
        from bot.root import slack_client

        probe = SlackProbe(slack_client(settings))
    found = warnings(policies, probe)
    if found:
        print("\nwarnings:")
        print("\n".join(f"  {w}" for w in found))
    code = 2 if args.strict and found else 0
    store = None if args.offline else _identity_store(settings, policies)
    if store is not None:
        try:
            idc_errors, idc_warnings = idc_problems(policies, store)
        except Unavailable as err:
            print(f"\nnote: IAM Identity Center could not be asked ({err}): idc-group entries and Identity Store "
                  "groups are not checked")
        else:
            if idc_warnings:
                print("\nwarnings: IAM Identity Center")
                print("\n".join(f"  {w}" for w in idc_warnings))
                code = 2 if args.strict else code
            if idc_errors:
                print("\nerrors: IAM Identity Center", file=sys.stderr)
                print("\n".join(f"  {e}" for e in idc_errors), file=sys.stderr)
                code = 1
    from bot import opsgenie, pagerduty

    for provider, module in (("PagerDuty", pagerduty), ("Opsgenie", opsgenie)):
        oc_errors, oc_warnings, oc_notes = module.report(policies, settings, args.offline)
        if oc_warnings:
            print(f"\nwarnings: {provider}")
            print("\n".join(f"  {w}" for w in oc_warnings))
            code = 2 if args.strict else code
        if oc_errors:
            print(f"\nerrors: {provider}", file=sys.stderr)
            print("\n".join(f"  {e}" for e in oc_errors), file=sys.stderr)
            code = 1
        print("\n".join(f"\n{n}" for n in oc_notes), end="\n" if oc_notes else "")
    groups = group_warnings(policies)
    if groups:  # not counted by --strict: true of every file that names a group, however well it is managed
        print("\nwarnings: user groups with authority (not counted by --strict)")
        print("\n".join(f"  {w}" for w in groups))
    from bot import evidence_check

    evidence = evidence_check.report(policies, settings, args.offline)  # session logs, the [events] bus
    if evidence:
        print("\n" + "\n".join(evidence))
        code = 2 if args.strict and any(line.startswith("warnings") for line in evidence) else code
    if probe is None:
        why = "--offline" if args.offline else "no SLACK_BOT_TOKEN"
        print(f"\nnote: Slack not asked ({why}): user and group ids, group sizes and channel membership are not "
              "checked")
    return code


def configure_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="policy file (default: $JIT_POLICIES or policies.toml)")
    parser.add_argument("--offline", action="store_true", help="do not ask Slack, even with SLACK_BOT_TOKEN set")
    parser.add_argument("--strict", action="store_true", help="exit 2 when there are warnings")
    parser.set_defaults(func=_check)


# --- explain ---------------------------------------------------------------------------------------------

def _tags(text: str) -> dict[str, str]:
    tags = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"'{pair}' is not key=value")
        tags[key.strip()] = value.strip()
    return tags


def _node(args: argparse.Namespace, settings: Settings, policies: PolicyFile) -> Node:
    if args.tags is not None:
        node_id = args.node if args.node and args.node.startswith(("i-", "mi-")) else "i-0000000000000000"
        name = args.node if args.node and not args.node.startswith(("i-", "mi-")) else None
        return Node(node_id, args.account, settings.aws_region or "us-east-1", name=name, tags=_tags(args.tags))
    if not args.node:
        raise ValueError("Which node? Give --node <id or Name>, or --tags k=v,… for a hypothetical node.")
    from bot.root import aws_gateway

    node: Node = aws_gateway(settings, lambda: policies).resolve(args.node)
    return node


def _explain(args: argparse.Namespace) -> int:
    from core.explain import explain

    settings = _settings()
    path = args.policies or settings.jit_policies
    try:
        policies = load_policies(path)
        duration = parse_duration(args.duration) if args.duration else None
        node = _node(args, settings, policies)
    except (PolicyError, DurationError, ValueError, JitError) as err:
        print(err, file=sys.stderr)
        return 1
    directory = None
    groups = frozenset(g for g in (args.groups or "").split(",") if g.strip())
    email = args.email
    token = settings.secret("slack_bot_token")
    if token and not args.offline:
        from bot.root import slack_client
        from core.identity import trusted_email
        from handlers.directory import SlackDirectory

        directory = SlackDirectory(slack_client(settings))
        try:
            profile = directory.user(args.user)
        except JitError as err:
            print(err, file=sys.stderr)
            return 1
        email = email or trusted_email(profile)  # what jitbot itself would go by (core.identity)
        groups |= {g for g in policies.referenced_groups() if args.user in directory.group_members(g)}
    requester = Requester(args.user, groups, email=email)
    print(explain(policies, requester, node, duration, has_ticket=args.ticket, directory=directory).text)
    return 0


def configure_explain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="the Slack user id of the requester (U…)")
    parser.add_argument("--node", help="a node id or Name tag, looked up in AWS (unless --tags is given)")
    parser.add_argument("--tags", help="explain against a hypothetical node with these tags: k=v,k2=v2")
    parser.add_argument("--account", default="000000000000", help="the hypothetical node's account")
    parser.add_argument("--groups", help="user groups the user is in (S…,S…), when Slack is not asked")
    parser.add_argument("--email", help="the user's email, for [identities] and Cedar, when Slack is not asked")
    parser.add_argument("--duration", help="the requested duration (default: the policy's)")
    parser.add_argument("--ticket", action="store_true", help="the request names a ticket")
    parser.add_argument("--policies", help="policy file (default: $JIT_POLICIES or policies.toml)")
    parser.add_argument("--offline", action="store_true", help="do not ask Slack, even with SLACK_BOT_TOKEN set")
    parser.set_defaults(func=_explain)
