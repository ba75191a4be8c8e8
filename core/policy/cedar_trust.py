"""What a Cedar statement may rely on about the person asking, and what it may not.

A member edits their own Slack profile: title, names, phone, status. A statement deciding on one of those is
decided by the person it is about (a "contractors by title" forbid is lifted by changing one's title), so jitbot
offers none of them and a statement naming one is an error that says so.

``principal.email`` is offered only when Slack confirmed that the person controls the address and they are a
full member of this workspace (``core.identity``). That makes it good evidence *for* someone (a permit matching
the email to an ``Owner`` tag: to pass it one must control that mailbox), and no evidence *against* them: a
member who may change their email moves to another address they control and steps out of a forbid keyed on the
old one. So a statement may read the email only where reading it can grant, never where it can withhold: not in
a forbid, and not negated in a permit (``!``, ``!=``, ``unless``, an ``if`` condition).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from cedarpy import pst

#: Slack profile fields a member edits themselves, as a JITNA-style statement might name them
SELF_EDITED = frozenset({"title", "phone", "pronouns", "displayName", "display_name", "realName", "real_name",
                         "firstName", "first_name", "lastName", "last_name", "statusText", "status_text", "name",
                         "fields", "department", "jobTitle"})
#: offered, but only as evidence for the person (see the module's doc)
GRANT_ONLY = frozenset({"email"})


def _principal_reads(node: Any, withholding: bool) -> Iterator[tuple[str, bool]]:
    """(attribute, whether the read sits where it withholds access) for each ``principal.x`` / ``principal has x``.

    ``withholding`` starts true in a forbid's ``when`` (and a permit's ``unless``), and flips under ``!`` and
    ``!=``; an ``if`` condition counts both ways.
    """
    if isinstance(node, pst.HasAttr | pst.GetAttr) and isinstance(node.base, pst.Var) and node.base.name == "principal":
        yield (node.attrs[0] if isinstance(node, pst.HasAttr) else node.attr), withholding
        return
    if isinstance(node, pst.UnaryOp) and node.op == "not":
        yield from _principal_reads(node.arg, not withholding)
        return
    if isinstance(node, pst.BinaryOp) and node.op == "not_eq":
        yield from _principal_reads(node.left, not withholding)
        yield from _principal_reads(node.right, not withholding)
        return
    if isinstance(node, pst.IfThenElse):
        yield from _principal_reads(node.cond, True)
        yield from _principal_reads(node.then_expr, withholding)
        yield from _principal_reads(node.else_expr, withholding)
        return
    if isinstance(node, tuple):
        children: list[Any] = list(node)
    elif isinstance(node, Mapping):
        children = list(node.values())
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        children = [getattr(node, f.name) for f in dataclasses.fields(node)]
    else:
        return
    for child in children:
        yield from _principal_reads(child, withholding)


def untrusted_reads(template: pst.Template) -> list[tuple[str, str]]:
    """(attribute, why the statement may not rely on it), once per attribute, in the order found."""
    found: dict[str, str] = {}
    forbid = template.effect == "forbid"
    for clause in template.clauses:
        start = forbid if isinstance(clause, pst.When) else not forbid
        for attr, withholding in _principal_reads(clause, start):
            if attr in found:
                continue
            if attr in SELF_EDITED:
                found[attr] = (f"`principal.{attr}` is a field of the Slack profile, which each member edits "
                               "themselves: it cannot decide access, and jitbot does not offer it; name an "
                               "admin-managed user group (principal in AWS::IdentityStore::Group::\"S…\") instead")
            elif attr in GRANT_ONLY and withholding:
                found[attr] = (f"`principal.{attr}` may only grant, never withhold: a member who can change their "
                               "Slack email moves to another address they control and steps out of this "
                               f"{'forbid' if forbid else 'negated condition'}; deny by an admin-managed user "
                               "group (principal in AWS::IdentityStore::Group::\"S…\") instead")
    return list(found.items())
