"""How to open a session with each document a grant allows: the command the "granted" DM gives, per document
(``core.documents``), and for an Identity Center person the access portal and the CLI profile to sign in with.
Commands are code and stay as they are; the sentences around them are in the reader's language. Placeholders in
angle brackets are the person's to fill in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.documents import REMOTE_DESKTOP
from core.i18n import Tr
from core.idc import idc_user_id
from core.model import AccessRequest
from handlers.text import escape

DEFAULT_SHELL = "SSM-SessionManagerRunShell"


@dataclass(frozen=True)
class SsoPortal:
    """Where Identity Center people sign in: the access portal's URL (``portal_url``, optional) and the
    Identity Center region (``[identity_center]``)."""

    url: str | None
    region: str


def _name(document: str) -> str:
    """A document's name, from its name or its ARN."""
    return document.rsplit("/", 1)[-1] if document.startswith("arn:") else document


def command(tr: Tr, request: AccessRequest, document: str, profile: str | None = None) -> str:
    """The command (or the way) to open a session on the request's node with ``document``."""
    node = request.node
    tail = f" --region {node.region}" + (f" --profile {profile}" if profile else "")  # not words
    start = f"aws ssm start-session --target {node.id}{tail}"  # not words
    name = _name(document)
    if document == REMOTE_DESKTOP:
        return tr("Remote Desktop: AWS console → Systems Manager → Fleet Manager → {node} → Node actions → "
                  "Connect with Remote Desktop", node=node.id)
    if name == DEFAULT_SHELL:
        return start
    if name == "AWS-StartPortForwardingSession":
        return (f"{start} --document-name {document} "  # not words
                "--parameters '{\"portNumber\":[\"<port on the node>\"],\"localPortNumber\":[\"<local port>\"]}'")
    if name == "AWS-StartPortForwardingSessionToRemoteHost":
        return (f"{start} --document-name {document} --parameters "  # not words
                "'{\"host\":[\"<host the node reaches>\"],\"portNumber\":[\"<its port>\"],"  # not words
                "\"localPortNumber\":[\"<local port>\"]}'")
    if name == "AWS-StartSSHSession":
        return (f"ssh -o ProxyCommand=\"aws ssm start-session --target %h --document-name {document} "  # not words
                f"--parameters portNumber=%p{tail}\" <user>@{node.id}")
    if name == "AWS-StartInteractiveCommand":
        return f"{start} --document-name {document} --parameters command=\"<command>\""  # not words
    return f"{start} --document-name {document}"  # not words


def commands(tr: Tr, request: AccessRequest, documents: Sequence[str], profile: str | None = None) -> str:
    """One line per allowed document (the default shell's plain command first), as a code block's content."""
    wanted = list(dict.fromkeys(documents)) or [DEFAULT_SHELL]
    lines = [command(tr, request, d, profile) for d in wanted]
    if request.more_nodes:  # a grant of several nodes: the same commands, with each one's id
        lines.append("# " + tr("likewise on {nodes} (replace {node})",
                               nodes=", ".join(n.id for n in request.more_nodes), node=request.node.id))
    return "\n".join(lines)


def instructions(tr: Tr, r: AccessRequest, sso: SsoPortal | None, documents: Sequence[str] = ()) -> str:
    """How to open a session: the command for each document the grant allows, and for an Identity Center person
    the access-portal link to the grant's role (permission set ``jitbot-<id>``) and the CLI profile that signs in
    as it."""
    if idc_user_id(r.principal_arn) is None:
        return tr("Connect with:\n```{commands}```", commands=escape(commands(tr, r, documents)))
    role, profile, account = f"jitbot-{r.id}", f"jit-{r.id}", r.node.account
    url = sso.url.rstrip("/") if sso is not None and sso.url else None
    console = escape(f"{url}/#/console?account_id={account}&role_name={role}")  # not words
    portal = (tr("<{url}|open the console as it>", url=console) if url
              else tr("sign in to your AWS access portal"))
    start = url or tr("<your access portal URL>")
    region = sso.region if sso is not None else tr("<Identity Center region>")
    config = "\n".join([f"[profile {profile}]", f"sso_start_url = {start}", f"sso_region = {region}",
                        f"sso_account_id = {account}", f"sso_role_name = {role}", f"region = {r.node.region}"])
    login = f"aws sso login --profile {profile}\n{escape(commands(tr, r, documents, profile))}"  # not words
    return tr("Your role is `{role}` in account `{account}`: {portal}.\n"
              "From a terminal, add to `~/.aws/config`:\n```{config}```\nthen:\n```{login}```",
              role=role, account=account, portal=portal, config=config, login=login)
