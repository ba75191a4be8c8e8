"""The ``jitbot`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import policy_report
from core.policy import PolicyError

if TYPE_CHECKING:
    from bot.settings import Settings


def _settings() -> Settings:
    from bot.settings import Settings

    return Settings()


def _serve(args: argparse.Namespace) -> int:
    from bot.app import build
    from bot.logs import configure
    from bot.server import serve

    settings = _settings()
    configure(settings.log_level, settings.log_format)
    missing = [n for n in ("slack_bot_token",) if settings.secret(n) is None]
    if settings.secret("slack_app_token") is None and settings.secret("slack_signing_secret") is None:
        missing.append("slack_signing_secret")
    if missing:
        print("jitbot serve needs " + ", ".join(m.upper() for m in missing), file=sys.stderr)
        return 2
    try:
        runtime = build(settings)
    except PolicyError as err:
        print(err, file=sys.stderr)
        return 1
    serve(runtime)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import run

    return run(window_seconds=args.window)


def _db_upgrade(args: argparse.Namespace) -> int:
    from store.migrate import upgrade

    url = _settings().database_url
    upgrade(url)
    print(f"database at head: {url.split('@')[-1]}")
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    """One reconciliation pass now; prints what it did. Exit 1 when something could not be checked."""
    from bot.app import build
    from bot.logs import configure
    from core.reconcile import reconcile

    settings = _settings()
    configure(settings.log_level, settings.log_format)
    try:
        runtime = build(settings)
    except PolicyError as err:
        print(err, file=sys.stderr)
        return 1
    try:
        report = reconcile(runtime.ctx)
    finally:
        runtime.stop()
    print("\n".join(report.lines()))
    return 1 if report.errors else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="jitbot", description="Just-in-time SSM node access from Slack.")
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the bot (HTTP, or Socket Mode when SLACK_APP_TOKEN is set)") \
        .set_defaults(func=_serve)
    demo = sub.add_parser("demo", help="the whole story against embedded fakes of Slack and AWS")
    demo.add_argument("--window", type=int, default=6, help="access window in seconds (default 6)")
    demo.set_defaults(func=_demo)
    policies = sub.add_parser("policies", help="check or explain the policy file").add_subparsers(
        dest="policies_command", required=True)
    policy_report.configure_check(policies.add_parser("check", help="validate the policy file, summarise it, warn"))
    policy_report.configure_explain(policies.add_parser("explain", help="what would happen if a user asked for a node"))
    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply the migrations up to head").set_defaults(func=_db_upgrade)
    sub.add_parser("reconcile", help="remove jitbot-* IAM policies no live grant explains, restore missing ones") \
        .set_defaults(func=_reconcile)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
