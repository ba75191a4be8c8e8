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
        raise InvalidInput("Pick a node.").at("node")
    if any(not part for part in parts):
        raise InvalidInput("The list of nodes has an empty entry: separate the nodes with single commas, "
                           "like `web-1,web-2`.").at("node")
    if len(parts) > 1 and any(is_selector(part) for part in parts):
        raise InvalidInput("A tag selector stands alone: ask for `tag:Role=web`, or list the nodes "
                           "(`web-1,web-2`), not both.").at("node")
    if len(parts) > MAX_NODES:
        raise NotAllowed(f"You listed {len(parts)} nodes; one request names at most {MAX_NODES}.").at("node")
    return parts


def _selector(reference: str) -> tuple[str, str, str]:
    """``[account/][region/]tag:Key=Value`` → (the prefix to keep, the key, the value)."""
    prefix, _, selector = reference.strip().rpartition("/")
    key, equals, value = selector[len(TAG_SELECTOR):].partition("=")
    if not key.strip() or not equals or not value.strip():
        raise InvalidInput(f"'{reference}' is not a tag selector: write `tag:<key>=<value>`, like "
                           "`tag:Role=web`.").at("node")
    return prefix, key.strip(), value.strip()


def _aws(err: TransientAwsError) -> Unavailable:
    return Unavailable(f"AWS did not answer while jitbot looked up the node ({err}). Nothing was recorded; try "
                       "again in a minute.").at("node")


def resolve(nodes: NodeDirectory, reference: str) -> Node:
    """One node; a refusal names the reference (the person may have listed several)."""
    if not reference.strip():
        raise InvalidInput("Pick a node.").at("node")
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
        raise NodeNotFound(f"No node is tagged {key}={value}.").at("node")
    return tuple(found)


def distinct(typed: Sequence[str], found: Sequence[Node]) -> None:
    """Each node once: a duplicate is refused, saying which references name the same node."""
    seen: dict[tuple[str, str, str], str] = {}
    for reference, node in zip(typed, found, strict=True):
        key = (node.account, node.region, node.id)
        if key in seen:
            first = seen[key]
            what = (f"'{reference}' is listed twice" if first == reference else
                    f"'{first}' and '{reference}' are the same node ({node.id})")
            raise InvalidInput(f"{what}: list each node once.").at("node")
        seen[key] = reference


def one_place(found: Sequence[Node], selector: str | None = None) -> None:
    """One account and region: the grant is one IAM policy there (docs/policies.md, "Several nodes")."""
    first = found[0]
    places = dict.fromkeys(f"`{n.account}/{n.region}/{selector}`" for n in found)
    then = (f"Ask for them in separate requests: {', '.join(places)}." if selector
            else "Ask for them in separate requests.")
    for node in found[1:]:
        if (node.account, node.region) != (first.account, first.region):
            raise NotAllowed(
                f"One request's nodes must be in one account and region, since its grant is one policy there: "
                f"{first.label} is in {first.account} ({first.region}) but {node.label} is in {node.account} "
                f"({node.region}). {then}").at("node")


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
