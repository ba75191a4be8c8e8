"""What ``jitbot policies check`` asks AWS about evidence and integration (issue 19): whether the accounts a policy
grants in keep session logs (Session Manager's preferences), whether the ``[events]`` bus exists, and whether the
webhook can be signed. Warnings, never errors: the file itself is valid."""

from __future__ import annotations

from typing import Any

from aws.session_logs import SessionLogs
from bot.settings import Settings
from core.errors import JitError
from core.i18n import ENGLISH, Tr
from core.policy import PolicyFile


def _accounts(policies: PolicyFile, home: str) -> list[tuple[str, list[str]]]:
    """(account, names of the granting policies that may grant there), the home account first."""
    every = [home, *sorted(a for a in policies.accounts if a != home)]
    granting: dict[str, list[str]] = {account: [] for account in every}
    for policy in (*policies.auto_approval, *policies.manual_approval):
        for account in policy.targets.accounts or every:
            granting.setdefault(account, []).append(policy.name)
    return [(account, names) for account, names in granting.items() if names]


def aws_warnings(policies: PolicyFile, clients: Any, region: str, secret: str | None,
                 tr: Tr = ENGLISH) -> tuple[list[str], list[str]]:
    """(warnings, notes). ``clients`` is an ``aws.clients.Clients`` for jitbot's accounts."""
    warnings: list[str] = []
    notes: list[str] = []
    logs = SessionLogs(clients)
    for account, names in _accounts(policies, clients.home_account()):
        try:
            place = logs.place(account, region)
        except JitError as err:
            notes.append(tr("account {account} ({region}): Session Manager's preferences could not be read "
                            "({error}); whether its sessions are logged is not checked", account=account,
                            region=region, error=err.say(tr)))
            continue
        if not place.logged:
            listed = ", ".join(f"'{n}'" for n in names)
            warnings.append(tr.plural(
                "account {account} ({region}) keeps no session logs (Session Manager's preferences send none to S3 "
                "or CloudWatch Logs), and policy {policies} grants sessions on its nodes: jitbot records those "
                "sessions but nothing records what was done in them",
                "account {account} ({region}) keeps no session logs (Session Manager's preferences send none to S3 "
                "or CloudWatch Logs), and policies {policies} grant sessions on its nodes: jitbot records those "
                "sessions but nothing records what was done in them", len(names), account=account, region=region,
                policies=listed))
    events = policies.events
    if events is not None and events.eventbridge_bus:
        from aws.eventbridge import check_bus

        problem = check_bus(clients, events.eventbridge_bus)
        if problem:
            warnings.append(tr("[events] eventbridge_bus: {problem}; events wait (retried for a day) until it does",
                               problem=tr.text(problem)))
    if events is not None and events.webhook_url and not secret:
        warnings.append(tr("[events] webhook_url is set but JITBOT_WEBHOOK_SECRET is not: nothing is sent to the "
                           "webhook until it is (jitbot never sends an event unsigned)"))
    return warnings, notes


def report(policies: PolicyFile, settings: Settings, offline: bool, tr: Tr = ENGLISH) -> tuple[list[str], bool]:
    """(the lines ``policies check`` prints, whether there are warnings); ``offline``: AWS is not asked (one note
    says so)."""
    if offline:
        return [tr("note: AWS not asked (--offline): session logging and the [events] bus are not checked")], False
    from aws.clients import Clients

    roles = {account: spec.role_arn for account, spec in policies.accounts.items()}
    clients = Clients(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url, accounts=roles,
                      max_attempts=2)
    try:
        region = clients.region
        found, notes = aws_warnings(policies, clients, region, settings.secret("jitbot_webhook_secret"), tr)
    except Exception as err:  # no credentials, no region, no network: the check goes on without AWS
        error = f"{type(err).__name__}: {err}"
        return [tr("note: AWS could not be asked ({error}): session logging and the [events] bus are not checked",
                   error=error)], False
    lines = ([tr("warnings: evidence and events")] + [f"  {w}" for w in found]) if found else []
    return lines + [tr("note: {note}", note=n) for n in notes], bool(found)
