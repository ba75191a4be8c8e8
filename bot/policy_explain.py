"""``jitbot policies explain``: what would happen if someone asked for a node, in the command line's language."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bot.language import say
from core.durations import DurationError, parse_duration
from core.errors import JitError
from core.i18n import Tr
from core.model import Node
from core.policy import PolicyError, PolicyFile, load_policies
from core.policy.evaluate import Requester

if TYPE_CHECKING:
    from bot.settings import Settings


def _tags(text: str, tr: Tr) -> dict[str, str]:
    tags = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(tr("'{pair}' is not key=value", pair=pair))
        tags[key.strip()] = value.strip()
    return tags


def _node(args: argparse.Namespace, settings: Settings, policies: PolicyFile) -> Node:
    tr: Tr = args.tr
    if args.tags is not None:
        node_id = args.node if args.node and args.node.startswith(("i-", "mi-")) else "i-0000000000000000"
        name = args.node if args.node and not args.node.startswith(("i-", "mi-")) else None
        return Node(node_id, args.account, settings.aws_region or "us-east-1", name=name, tags=_tags(args.tags, tr))
    if not args.node:
        raise ValueError(tr("Which node? Give --node <id or Name>, or --tags k=v,… for a hypothetical node."))
    from bot.root import aws_gateway

    node: Node = aws_gateway(settings, lambda: policies).resolve(args.node)
    return node


def _explain(args: argparse.Namespace) -> int:
    from bot.settings import Settings
    from core.explain import explain

    settings, tr = Settings(), args.tr
    path = args.policies or settings.jit_policies
    try:
        policies = load_policies(path)
        duration = parse_duration(args.duration) if args.duration else None
        node = _node(args, settings, policies)
    except (PolicyError, DurationError, ValueError, JitError) as err:
        print(say(err, tr), file=sys.stderr)
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
            print(err.say(tr), file=sys.stderr)
            return 1
        email = email or trusted_email(profile)  # what jitbot itself would go by (core.identity)
        groups |= {g for g in policies.referenced_groups() if args.user in directory.group_members(g)}
    requester = Requester(args.user, groups, email=email)
    found = explain(policies, requester, node, duration, has_ticket=args.ticket, directory=directory)
    # core words its explanation as Text (each line rendered here, in the command line's language)
    print("\n".join(tr.text(line) for line in found.lines))
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
