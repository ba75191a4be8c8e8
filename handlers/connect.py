"""How to open a session with each document a grant allows: the command the "granted" DM gives, per document
(``core.documents``). Placeholders in angle brackets are the person's to fill in."""

from __future__ import annotations

from collections.abc import Sequence

from core.documents import REMOTE_DESKTOP
from core.model import AccessRequest

DEFAULT_SHELL = "SSM-SessionManagerRunShell"


def _name(document: str) -> str:
    """A document's name, from its name or its ARN."""
    return document.rsplit("/", 1)[-1] if document.startswith("arn:") else document


def command(request: AccessRequest, document: str, profile: str | None = None) -> str:
    """The command (or the way) to open a session on the request's node with ``document``."""
    node = request.node
    tail = f" --region {node.region}" + (f" --profile {profile}" if profile else "")
    start = f"aws ssm start-session --target {node.id}{tail}"
    name = _name(document)
    if document == REMOTE_DESKTOP:
        return (f"Remote Desktop: AWS console → Systems Manager → Fleet Manager → {node.id} → Node actions → "
                "Connect with Remote Desktop")
    if name == DEFAULT_SHELL:
        return start
    if name == "AWS-StartPortForwardingSession":
        return (f"{start} --document-name {document} "
                "--parameters '{\"portNumber\":[\"<port on the node>\"],\"localPortNumber\":[\"<local port>\"]}'")
    if name == "AWS-StartPortForwardingSessionToRemoteHost":
        return (f"{start} --document-name {document} --parameters "
                "'{\"host\":[\"<host the node reaches>\"],\"portNumber\":[\"<its port>\"],"
                "\"localPortNumber\":[\"<local port>\"]}'")
    if name == "AWS-StartSSHSession":
        return (f"ssh -o ProxyCommand=\"aws ssm start-session --target %h --document-name {document} "
                f"--parameters portNumber=%p{tail}\" <user>@{node.id}")
    if name == "AWS-StartInteractiveCommand":
        return f"{start} --document-name {document} --parameters command=\"<command>\""
    return f"{start} --document-name {document}"


def commands(request: AccessRequest, documents: Sequence[str], profile: str | None = None) -> str:
    """One line per allowed document (the default shell's plain command first), as a code block's content."""
    wanted = list(dict.fromkeys(documents)) or [DEFAULT_SHELL]
    lines = [command(request, d, profile) for d in wanted]
    if request.more_nodes:  # a grant of several nodes: the same commands, with each one's id
        lines.append(f"# likewise on {', '.join(n.id for n in request.more_nodes)} (replace {request.node.id})")
    return "\n".join(lines)
