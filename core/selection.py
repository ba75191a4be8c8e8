"""Which nodes a request names: one node, a comma-separated list (``web-1,web-2,web-3``) or a tag selector
(``tag:Role=web``), resolved once, at submission, to the nodes that are then approved and granted (a selector is
never resolved again). ``core.checks`` applies the rules that need the policies: every node under one deciding
policy, at most its ``max_nodes``.

The rules here need no policy: every reference resolves (an unknown one is refused, naming it), no node is named
twice (``web-1,web-1``, or a name and the id of the same node: refused, so the person sees what they typed wrong
rather than getting less than they listed), and all are in one account and region, since one grant is one IAM
policy (or one Identity Center permission set) in one account.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import InvalidInput, JitError, NodeNotFound, NotAllowed, TransientAwsError, Unavailable
from core.i18n import T
from core.model import Node
from core.policy.schema import MAX_NODES
from core.ports import NodeDirectory

#: ``tag:Role=web`` (optionally ``account/region/tag:Role=web``): every node carrying the tag
TAG_SELECTOR = "tag:"


def node_ref(node: Node) -> str:
    """A reference that resolves to exactly this node: ``account/region/id``."""
    return f"{node.account}/{node.region}/{node.id}"


def is_selector(reference: str) -> bool:
    return reference.rsplit("/", 1)[-1].strip().lower().startswith(TAG_SELECTOR)


def references(text: str) -> list[str]:
    """The references a request names, as typed: a list split at commas, or one tag selector."""
    parts = [part.strip() for part in text.split(",")]
    if not text.strip():
        raise InvalidInput(T("Pick a node.")).at("node")
    if any(not part for part in parts):
        raise InvalidInput(T("The list of nodes has an empty entry: separate the nodes with single commas, "
                             "like `web-1,web-2`.")).at("node")
    if len(parts) > 1 and any(is_selector(part) for part in parts):
        raise InvalidInput(T("A tag selector stands alone: ask for `tag:Role=web`, or list the nodes "
                             "(`web-1,web-2`), not both.")).at("node")
    if len(parts) > MAX_NODES:
        raise NotAllowed(T("You listed {count} nodes; one request names at most {most}.", count=len(parts),
                           most=MAX_NODES)).at("node")
    return parts


def _selector(reference: str) -> tuple[str, str, str]:
    """``[account/][region/]tag:Key=Value`` → (the prefix to keep, the key, the value)."""
    prefix, _, selector = reference.strip().rpartition("/")
    key, equals, value = selector[len(TAG_SELECTOR):].partition("=")
    if not key.strip() or not equals or not value.strip():
        raise InvalidInput(T("'{reference}' is not a tag selector: write `tag:<key>=<value>`, like "
                             "`tag:Role=web`.", reference=reference)).at("node")
    return prefix, key.strip(), value.strip()


def _aws(err: TransientAwsError) -> Unavailable:
    return Unavailable(T("AWS did not answer while jitbot looked up the node ({error}). Nothing was recorded; "
                         "try again in a minute.", error=str(err))).at("node")


def resolve(nodes: NodeDirectory, reference: str) -> Node:
    """One node; a refusal names the reference (the person may have listed several)."""
    if not reference.strip():
        raise InvalidInput(T("Pick a node.")).at("node")
    try:
        return nodes.resolve(reference.strip())
    except JitError as err:
        raise err.at("node") from None
    except TransientAwsError as err:  # the person is waiting for an answer: say so, rather than "went wrong"
        raise _aws(err) from None


def select(nodes: NodeDirectory, reference: str) -> tuple[Node, ...]:
    """The nodes a tag selector names now (at most one more than ``MAX_NODES``, so that "too many" is known)."""
    prefix, key, value = _selector(reference)
    try:
        found = nodes.tagged(key, value, prefix=prefix or None, limit=MAX_NODES + 1)
    except JitError as err:
        raise err.at("node") from None
    except TransientAwsError as err:
        raise _aws(err) from None
    if not found:
        raise NodeNotFound(T("No node is tagged {key}={value}.", key=key, value=value)).at("node")
    return tuple(found)


def distinct(typed: Sequence[str], found: Sequence[Node]) -> None:
    """Each node once: a duplicate is refused, saying which references name the same node."""
    seen: dict[tuple[str, str, str], str] = {}
    for reference, node in zip(typed, found, strict=True):
        key = (node.account, node.region, node.id)
        if key in seen:
            first = seen[key]
            if first == reference:
                raise InvalidInput(T("'{reference}' is listed twice: list each node once.",
                                     reference=reference)).at("node")
            raise InvalidInput(T("'{first}' and '{reference}' are the same node ({node}): list each node once.",
                                 first=first, reference=reference, node=node.id)).at("node")
        seen[key] = reference


def one_place(found: Sequence[Node], selector: str | None = None) -> None:
    """One account and region: the grant is one IAM policy there (docs/policies.md, "Several nodes")."""
    first = found[0]
    places = dict.fromkeys(f"`{n.account}/{n.region}/{selector}`" for n in found)
    then = (T("Ask for them in separate requests: {places}.", places=", ".join(places)) if selector
            else T("Ask for them in separate requests."))
    for node in found[1:]:
        if (node.account, node.region) != (first.account, first.region):
            raise NotAllowed(T(
                "One request's nodes must be in one account and region, since its grant is one policy there: "
                "{first} is in {first_account} ({first_region}) but {other} is in {other_account} "
                "({other_region}). {then}", first=first.label, first_account=first.account,
                first_region=first.region, other=node.label, other_account=node.account, other_region=node.region,
                then=then)).at("node")


def named(nodes: NodeDirectory, text: str) -> tuple[Node, ...]:
    """Every node ``text`` names, resolved now, each once, all in one account and region."""
    typed = references(text)
    selector = typed[0].rsplit("/", 1)[-1].strip() if is_selector(typed[0]) else None
    if selector is not None:
        found = select(nodes, typed[0])
        typed = [node_ref(node) for node in found]
    else:
        found = tuple(resolve(nodes, reference) for reference in typed)
    distinct(typed, found)
    one_place(found, selector)
    return found


def listed(found: Sequence[Node]) -> str:
    """``web-1 (i-…), web-2 (i-…)`` for a message."""
    return ", ".join(node.label for node in found)
