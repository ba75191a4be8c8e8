"""The entity model AWS JITNA gives its Cedar statements, as jitbot provides it (docs/policies.md, "The Cedar
model"): the schema, the attributes offered, the request's entities, and the one spelling AWS's own examples use
that Cedar does not parse (``action == AWS::SSM::getTokenForInstanceAccess``).

The principal is ``AWS::IdentityStore::User``: for an Identity Center person their Identity Store user id, in
their Identity Store groups (``AWS::IdentityStore::Group::"<GroupId>"``) and carrying the JITNA attributes the
Identity Store holds for them; for anyone else their Slack user id, in their Slack user groups. Both are in the
Slack user groups the statements name. ``context.iam.principalTags`` carries the tags of the IAM role or user
that receives the grant (none for an Identity Center person).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from core.idc import JITNA_ATTRIBUTES
from core.policy.cedar_rules import CedarRequest

USER = "AWS::IdentityStore::User"
GROUP = "AWS::IdentityStore::Group"
EC2 = "AWS::EC2::Instance"
HYBRID = "AWS::SSM::ManagedInstance"
PRINCIPAL_TAGS = "AWS::IAM::PrincipalTags"
ACTION = 'AWS::SSM::Action::"getTokenForInstanceAccess"'

SCHEMA = """
namespace AWS::IdentityStore {
  entity Group;
  entity User in [Group] {
    email?: String, employeeNumber?: String, costCenter?: String, organization?: String, division?: String
  };
}
namespace AWS::IAM {
  entity Role;
  type AuthorizationContext = { principalTags: PrincipalTags };
  entity PrincipalTags tags String;
}
namespace AWS::EC2 {
  entity Instance tags String;
}
namespace AWS::SSM {
  entity ManagedInstance tags String;
  action "getTokenForInstanceAccess" appliesTo {
    principal: [AWS::IdentityStore::User],
    resource: [AWS::EC2::Instance, AWS::SSM::ManagedInstance],
    context: { iam: AWS::IAM::AuthorizationContext, durationSeconds: Long, hasTicket: Bool, principalArn?: String }
  };
}
"""

KNOWN_ATTRIBUTES = {"principal": ("email", *JITNA_ATTRIBUTES),
                    "context": ("iam", "durationSeconds", "hasTicket", "principalArn")}

#: the short action name of AWS's statement-structure examples, outside strings and comments
_SHORT_ACTION = re.compile(r"""
    (?P<skip>"(?:[^"\\]|\\.)*"|//[^\n]*)
  | (?P<short>\bAWS\s*::\s*SSM\s*::\s*getTokenForInstanceAccess\b(?!\s*::))
""", re.VERBOSE)


def normalise(text: str) -> tuple[str, Callable[[int], int]]:
    """``text`` with ``AWS::SSM::getTokenForInstanceAccess`` spelled as Cedar parses it (``AWS::SSM::Action::
    "getTokenForInstanceAccess"``), and a function taking an offset in the new text back to the original."""
    spans: list[tuple[int, int, int, int]] = []  # (new start, new end, old start, old end)
    out: list[str] = []
    last = shift = 0
    for match in _SHORT_ACTION.finditer(text):
        if match.lastgroup != "short":
            continue
        out.append(text[last:match.start()])
        new_start = match.start() + shift
        out.append(ACTION)
        spans.append((new_start, new_start + len(ACTION), match.start(), match.end()))
        shift += len(ACTION) - (match.end() - match.start())
        last = match.end()
    out.append(text[last:])
    if _unterminated(text):  # AWS's "reserved characters" example ends without its semicolon
        out.append("\n;")
    if not spans:
        return "".join(out), lambda offset: min(offset, len(text))

    def back(offset: int) -> int:
        moved = 0
        for new_start, new_end, old_start, old_end in spans:
            if offset < new_start:
                break
            if offset < new_end:
                return old_start
            moved = new_end - old_end
        return offset - moved

    return "".join(out), back


def _unterminated(text: str) -> bool:
    """Whether the file's last statement lacks its closing ``;`` (only comments and space after its ``}``)."""
    code = _SHORT_ACTION.sub(lambda m: "" if m.group().startswith("//") else m.group(), text).rstrip()
    return code.endswith("}")


def entities(request: CedarRequest) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The entities and the query of one request."""
    attrs: dict[str, Any] = {k: v for k, v in request.attributes.items() if k in JITNA_ATTRIBUTES}
    if request.email:
        attrs["email"] = request.email
    groups = sorted(request.groups | request.idc_groups)
    principal = {"type": USER, "id": request.idc_user_id or request.user_id}
    resource = {"type": HYBRID if request.node_id.startswith("mi-") else EC2, "id": request.node_id}
    tags = {"type": PRINCIPAL_TAGS, "id": "principal"}
    found: list[dict[str, Any]] = [
        {"uid": principal, "attrs": attrs, "parents": [{"type": GROUP, "id": g} for g in groups]},
        *({"uid": {"type": GROUP, "id": g}, "attrs": {}, "parents": []} for g in groups),
        {"uid": resource, "attrs": {}, "parents": [], "tags": dict(request.tags)},
        {"uid": tags, "attrs": {}, "parents": [], "tags": dict(request.principal_tags)},
    ]
    context: dict[str, Any] = {"iam": {"principalTags": {"__entity": tags}},
                               "durationSeconds": request.duration_seconds, "hasTicket": request.has_ticket}
    if request.principal_arn:
        context["principalArn"] = request.principal_arn
    query = {"principal": principal, "action": {"type": "AWS::SSM::Action", "id": "getTokenForInstanceAccess"},
             "resource": resource, "context": context}
    return found, query
