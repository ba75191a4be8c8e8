"""What each lifecycle notice says, and to whom: the requester (DM), the request's threads, the audit line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from core.durations import format_duration
from core.idc import idc_user_id
from core.model import AccessRequest, Event, Notice
from core.reconcile import OUTSIDE
from handlers.connect import commands
from handlers.sessions_text import sessions_text
from handlers.text import escape, fallback, left, nodes_text, principal, user, when

#: actors that are not Slack users
ACTORS = {"jitbot": "jitbot", OUTSIDE: "someone outside jitbot"}


@dataclass(frozen=True)
class Rendered:
    dm: str | None
    thread: str | None
    audit: str | None


@dataclass(frozen=True)
class SsoPortal:
    """Where Identity Center people sign in: the access portal's URL (``portal_url``, optional) and the
    Identity Center region (``[identity_center]``)."""

    url: str | None
    region: str


def _connect(r: AccessRequest, sso: SsoPortal | None, documents: Sequence[str] = ()) -> str:
    """How to open a session: the command for each document the grant allows (``handlers.connect``), and for an
    Identity Center person the access-portal link to the grant's role (permission set ``jitbot-<id>``) and the
    CLI profile that signs in as it."""
    if idc_user_id(r.principal_arn) is None:
        return f"Connect with:\n```{escape(commands(r, documents))}```"
    role, profile, account = f"jitbot-{r.id}", f"jit-{r.id}", r.node.account
    url = sso.url.rstrip("/") if sso is not None and sso.url else None
    portal = (f"<{escape(f'{url}/#/console?account_id={account}&role_name={role}')}|open the console as it>"
              if url else "sign in to your AWS access portal")
    config = "\n".join([f"[profile {profile}]", f"sso_start_url = {url or '<your access portal URL>'}",
                        f"sso_region = {sso.region if sso is not None else '<Identity Center region>'}",
                        f"sso_account_id = {account}", f"sso_role_name = {role}", f"region = {r.node.region}"])
    return (f"Your role is `{role}` in account `{account}`: {portal}.\n"
            f"From a terminal, add to `~/.aws/config`:\n```{config}```\nthen:\n"
            f"```aws sso login --profile {profile}\n{escape(commands(r, documents, profile))}```")


def render(event: Event, zone: ZoneInfo, now: datetime | None = None, sso: SsoPortal | None = None,
           documents: Sequence[str] = ()) -> Rendered:
    r = event.request
    node = nodes_text(r.nodes, 300)
    by = ACTORS.get(event.actor or "") or user(event.actor)
    why = f": {escape(event.reason)}" if event.reason else ""
    until = when(r.expires_at, zone)
    sessions = f" {event.sessions} session(s) terminated." if event.sessions else ""
    n = event.notice
    head = f"*{r.id}* · {user(r.requester)} · {node}"
    if n is Notice.SUBMITTED:
        first = r.levels[0]
        return Rendered(f"Your request *{r.id}* for {node} ({format_duration(r.duration)}) is waiting for "
                        f"level 1 ('{escape(first.name)}') in <#{first.channel}>.", None,
                        f"{head} · requested {format_duration(r.duration)}: {escape(r.reason)}")
    if n is Notice.LEVEL_APPROVED:
        done = event.level or 0
        nxt = r.levels[done + 1]
        return Rendered(f"Level {done + 1} approved your request *{r.id}*; now waiting for "
                        f"'{escape(nxt.name)}' in <#{nxt.channel}>.",
                        f"Level {done + 1} approved; passed on to level {done + 2} in <#{nxt.channel}>.",
                        f"{head} · level {done + 1} approved by {by}")
    if n is Notice.GRANTED:
        return Rendered(f":unlock: Access granted: *{r.id}* on {node} until *{until}*.\n{_connect(r, sso, documents)}",
                        f":unlock: Access granted until {until}.",
                        f"{head} · granted ({r.kind.value}) until {until}")
    if n is Notice.REJECTED:
        return Rendered(f":x: {by} rejected your request *{r.id}* for {node}{why}",
                        f":x: Rejected by {by}{why}", f"{head} · rejected by {by}{why}")
    if n is Notice.CANCELLED and event.reason:  # ended with the access it extends (core.chains)
        return Rendered(f":no_entry_sign: Your request *{r.id}* for {node} was cancelled{why}",
                        f":no_entry_sign: Cancelled{why}", f"{head} · cancelled by {by}{why}")
    if n is Notice.CANCELLED:
        return Rendered(f"You cancelled request *{r.id}*.", "Cancelled by the requester.",
                        f"{head} · cancelled by the requester")
    if n is Notice.TIMED_OUT:
        return Rendered(f":alarm_clock: Your request *{r.id}* for {node} timed out without a decision.",
                        ":alarm_clock: Timed out without a decision.", f"{head} · timed out")
    if n is Notice.FAILED:
        return Rendered(f":warning: Access for *{r.id}* could not be granted{why}",
                        f":warning: The grant failed{why}", f"{head} · grant FAILED{why}")
    if n is Notice.WARNING:
        remaining = f" ({left(r.expires_at, now)})" if now is not None else ""
        return Rendered(f":hourglass_flowing_sand: Your access *{r.id}* to {node} ends at *{until}*{remaining}. "
                        f"Need more time? *Extend…* below, or `/jit extend {r.id} &lt;duration&gt; &lt;reason&gt;`",
                        f"Access ends at {until}{remaining}.", None)
    if n is Notice.REVOKED and r.granted_at is None:  # a revoker ended it before any access was granted
        return Rendered(f":no_entry_sign: Your request *{r.id}* for {node} was revoked by {by}{why}",
                        f":no_entry_sign: Revoked by {by}{why}", f"{head} · revoked by {by} before any access{why}")
    if n is Notice.LOCKED_OUT:  # r stands for the person locked out (no request behind it)
        return Rendered(f":no_entry: {by} locked you out of jitbot{why}. Your access and requests have ended, and "
                        "new requests are refused until a revoker unlocks you.", None,
                        f":no_entry: {user(r.requester)} locked out by {by}{why}. Their live requests and grants "
                        "are ended; new ones are refused until `/jit unlock`.")
    if n is Notice.UNLOCKED:
        return Rendered(f":unlock: {by} unlocked you: you may request access again{why}.", None,
                        f":unlock: {user(r.requester)} unlocked by {by}{why}")
    if n in (Notice.EXPIRED, Notice.REVOKED, Notice.RELEASED):
        verb = {Notice.EXPIRED: "expired", Notice.REVOKED: f"was revoked by {by}{why}",
                Notice.RELEASED: "was released by the requester"}[n]
        record = f"\n{sessions_text(event.records, zone)}" if r.granted_at is not None else ""
        return Rendered(f":lock: Your access *{r.id}* to {node} {verb}.{sessions}",
                        f":lock: Access {verb}.{sessions}", f"{head} · access {verb}.{sessions}{record}")
    if n is Notice.REVOKE_FAILING:
        return Rendered(None, None, f":rotating_light: {head} · revocation is failing and being retried{why}")
    if n is Notice.REMINDER:
        waiting = r.levels[event.level or 0]
        who = ", ".join(principal(a) for a in waiting.approvers)
        return Rendered(None, f":bell: Reminder: {who}, request *{r.id}* is still waiting for your decision.",
                        None)
    if n is Notice.ESCALATED:
        level = event.level or 0
        spec = r.levels[level]
        who = fallback(spec.escalate_to, r.requester)
        after = format_duration(spec.escalate_after) if spec.escalate_after else "a while"
        where = f" in <#{spec.escalate_channel}>" if spec.escalate_channel else ""
        return Rendered(f":rotating_light: Nobody decided level {level + 1} ('{escape(spec.name)}') of your request "
                        f"*{r.id}* within {after}: its fallback approvers have been asked too{where}.",
                        f":rotating_light: Escalated after {after}{where}: {who}, request *{r.id}* is waiting; you "
                        "can approve or reject it too.",
                        f"{head} · level {level + 1} escalated after {after} to {who}")
    if n is Notice.SHORTENED:  # reason: the duration asked
        granted = format_duration(r.duration)
        return Rendered(f":scissors: {by} approved your request *{r.id}* for *{granted}*, less than the "
                        f"{escape(event.reason)} you asked for: your access lasts {granted}.",
                        f":scissors: Approved for {granted} (asked: {escape(event.reason)}), as {by} chose.",
                        f"{head} · approved for {granted} instead of {escape(event.reason)}, as {by} chose")
    if n is Notice.DENIED:
        return Rendered(None, None, f":no_entry: {user(r.requester)} · {node} · refused{why}")
    if n is Notice.DRIFT_REMOVED:  # r may stand for an unknown request: only its id and principal are real
        whose = f" · {user(r.requester)} · {node}" if r.requester else ""
        return Rendered(None, None, f":broom: Reconciliation removed `jitbot-{escape(r.id)}` from "
                        f"`{escape(r.principal_arn)}`{whose}{why}")
    if n is Notice.GRANT_REAPPLIED:
        line = f"its IAM policy was missing from `{escape(r.principal_arn)}` and was re-applied until {until}"
        return Rendered(None, f":wrench: Access check: {line}.", f":wrench: {head} · {line}")
    return Rendered(None, None, f"{head} · {n.value}")
