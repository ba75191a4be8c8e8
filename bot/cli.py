"""The ``jitbot`` command line. Each command takes the parts it needs from the composition root (``bot/root.py``;
``serve`` the whole bot, ``bot.app.build``), imported when it runs."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot import policy_explain, policy_report
from bot.language import cli_tr, policy_error
from core.i18n import LANGUAGES
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

    settings, tr = _settings(), args.tr
    configure(settings.log_level, settings.log_format)
    problems = []
    if settings.secret("slack_bot_token") is None:
        problems.append(tr("SLACK_BOT_TOKEN is missing, empty or blank"))
    if settings.secret("slack_app_token") is None and settings.secret("slack_signing_secret") is None:
        problems.append(tr("SLACK_SIGNING_SECRET is missing, empty or blank: in HTTP mode (no SLACK_APP_TOKEN) it is "
                           "what tells Slack's requests from forgeries (the Slack app's Basic Information page)"))
    if problems:
        print(tr("jitbot serve cannot start: {problems}", problems="; ".join(problems)), file=sys.stderr)
        return 2
    try:
        runtime = build(settings)
    except PolicyError as err:
        print(policy_error(err, tr), file=sys.stderr)
        return 1
    serve(runtime)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from fakes.demo import run

    return run(window_seconds=args.window, tr=args.tr)


def _playground(args: argparse.Namespace) -> int:
    from playground.server import run

    return run(port=args.port)


def _db_upgrade(args: argparse.Namespace) -> int:
    from bot.root import database

    settings = _settings()
    database(settings, migrate=True).dispose()
    print(args.tr("database at head: {url}", url=settings.database_url.split("@")[-1]))
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    """One reconciliation pass now; prints what it did. Exit 1 when something could not be checked."""
    from bot.clock import SystemClock
    from bot.logs import configure
    from bot.policies import PolicyHolder
    from bot.root import aws_gateway, context, database, slack_client, slack_notifier
    from core.reconcile import reconcile

    settings, tr = _settings(), args.tr
    configure(settings.log_level, settings.log_format)
    try:
        policies = PolicyHolder(settings.jit_policies)
    except PolicyError as err:
        print(policy_error(err, tr), file=sys.stderr)
        return 1
    db = database(settings, migrate=True)  # as serve does: the pass reads and writes the current schema
    try:
        client, gateway, clock = slack_client(settings), aws_gateway(settings, policies), SystemClock()
        ctx = context(settings, db, policies, client, gateway, clock=clock,
                      notifier=slack_notifier(client, policies, clock, gateway))
        report = reconcile(ctx)
    finally:
        db.dispose()
    print("\n".join(report.lines(tr)))
    return 1 if report.errors else 0


def _digest(args: argparse.Namespace) -> int:
    """Print the daily digest as of now; with --post, also post it to the audit channel."""
    from slack_sdk.errors import SlackApiError
    from sqlalchemy.exc import SQLAlchemyError

    from bot.clock import SystemClock
    from bot.root import database, slack_client
    from core.digest import build_digest
    from core.i18n import Catalogs
    from core.policy import load_policies
    from handlers.digest_blocks import DigestPoster, plain_text
    from store.reports import SqlReports

    settings, tr = _settings(), args.tr
    try:
        policies = load_policies(settings.jit_policies)
    except PolicyError as err:
        print(policy_error(err, tr), file=sys.stderr)
        return 1
    if args.post and (settings.secret("slack_bot_token") is None or not policies.settings.audit_channel):
        print(tr("jitbot digest --post needs SLACK_BOT_TOKEN and [settings] audit_channel"), file=sys.stderr)
        return 2
    db = database(settings)
    try:
        digest = build_digest(SqlReports(db.sessions), SystemClock().now(), policies.settings.timezone)
    except SQLAlchemyError as err:
        print(tr("cannot read the database ({error}); is it at head? (jitbot db upgrade)", error=type(err).__name__),
              file=sys.stderr)
        return 1
    finally:
        db.dispose()
    # in the reader's language; with --post, as the channel will read it
    print(plain_text(Catalogs().get(policies.settings.channel_lang) if args.post else tr, digest), end="")
    if args.post:
        try:
            ts = DigestPoster(slack_client(settings), lambda: policies).post(digest)
        except SlackApiError as err:
            print(tr("Slack refused the digest: {error}", error=err.response.get("error")), file=sys.stderr)
            return 1
        print(tr("posted to {channel} (ts {ts})", channel=policies.settings.audit_channel, ts=ts), file=sys.stderr)
    return 0


def _moment(text: str) -> datetime:
    """``--since``: a date (``2025-01-31``, midnight UTC) or an ISO-8601 time; without an offset, UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (2025-01-31) or an ISO-8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _audit_export(args: argparse.Namespace) -> int:
    """Stream the audit history (to stdout, or atomically to --output) for archiving."""
    import os

    from bot.root import database
    from store.reports import export, history

    db = database(_settings())
    partial = f"{args.output}.partial" if args.output else None
    try:
        with open(partial, "w", encoding="utf-8", newline="") if partial else contextlib.nullcontext(sys.stdout) \
                as out:
            count = export(history(db.sessions, args.since), out, args.format)
        if partial:
            os.replace(partial, args.output)
    finally:
        db.dispose()
    tr = args.tr
    print(tr.plural("exported {count} audit event to {file}", "exported {count} audit events to {file}", count,
                    file=args.output) if args.output
          else tr.plural("exported {count} audit event", "exported {count} audit events", count), file=sys.stderr)
    return 0


class _Version(argparse.Action):
    """``--version``: computed only when asked (it may run git), then exit."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from bot.version import version_text

        print(version_text())
        parser.exit()


def parser() -> argparse.ArgumentParser:
    # --lang is accepted before the command and after it (``jitbot --lang ja digest``, ``jitbot demo --lang ja``)
    lang = argparse.ArgumentParser(add_help=False)
    lang.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS,
                      help="the language of what this command prints (default: [settings] language of the policy "
                           "file when it is en or ja, else ja when LC_ALL/LC_MESSAGES/LANG say so, else en)")
    top = argparse.ArgumentParser(prog="jitbot", description="Just-in-time SSM node access from Slack.",
                                  parents=[lang])
    top.add_argument("--version", action=_Version, help="print the version and the commit, then exit")
    sub = top.add_subparsers(dest="command", required=True)

    def command(where: Any, name: str, help: str) -> argparse.ArgumentParser:
        found: argparse.ArgumentParser = where.add_parser(name, help=help, parents=[lang])
        return found

    command(sub, "serve", "run the bot (HTTP, or Socket Mode when SLACK_APP_TOKEN is set)").set_defaults(func=_serve)
    demo = command(sub, "demo", "the whole story against embedded fakes of Slack and AWS")
    demo.add_argument("--window", type=int, default=6, help="access window in seconds (default 6)")
    demo.set_defaults(func=_demo)
    playground = command(sub, "playground", "a Slack-like page in the browser, on the embedded fakes "
                                            "(127.0.0.1 only)")
    playground.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    playground.set_defaults(func=_playground)
    policies = command(sub, "policies", "check or explain the policy file").add_subparsers(
        dest="policies_command", required=True)
    policy_report.configure_check(command(policies, "check", "validate the policy file, summarise it, warn"))
    policy_explain.configure_explain(command(policies, "explain", "what would happen if a user asked for a node"))
    db = command(sub, "db", "database maintenance").add_subparsers(dest="db_command", required=True)
    command(db, "upgrade", "apply the migrations up to head").set_defaults(func=_db_upgrade)
    command(sub, "reconcile", "remove jitbot-* IAM policies no live grant explains, restore missing ones") \
        .set_defaults(func=_reconcile)
    digest = command(sub, "digest", "print the daily digest as of now")
    digest.add_argument("--post", action="store_true", help="also post it to the audit channel now")
    digest.set_defaults(func=_digest)
    audit = command(sub, "audit", "the audit history").add_subparsers(dest="audit_command", required=True)
    exporting = command(audit, "export", "write the audit history for archiving (before retention purges it)")
    exporting.add_argument("--since", type=_moment, help="only events at or after this date/time (UTC unless given)")
    exporting.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="default: jsonl")
    exporting.add_argument("--output", "-o", help="write to this file instead of stdout")
    exporting.set_defaults(func=_audit_export)
    return top


def _policy_path(args: argparse.Namespace) -> str | None:
    """The policy file the command reads: its own argument (``policies check PATH``, ``explain --policies``),
    else ``JIT_POLICIES``; None when the configuration cannot be read (the command reports that itself)."""
    given = getattr(args, "path", None) or getattr(args, "policies", None)
    if given:
        return str(given)
    try:
        return _settings().jit_policies
    except Exception:  # an invalid environment: the command says so; the language falls back
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.tr = cli_tr(getattr(args, "lang", None), _policy_path(args))
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
