"""Errors with messages meant for the person who caused them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from core.i18n import TP, Text, Tr

if TYPE_CHECKING:
    from core.model import MessageRef


class JitError(Exception):
    """Base of errors whose message is shown to the user: a ``Text`` (``T(...)``) rendered in the reader's
    language by ``say``; ``str()`` is the English."""

    #: the field of the request form the error is about ("node", "duration", "reason", "ticket"), if one is
    field: str | None = None

    def __init__(self, message: Text | str = "") -> None:
        super().__init__(str(message))
        self.message = message

    def say(self, tr: Tr) -> str:
        """The message in ``tr``'s language."""
        return tr.text(self.message)

    def at(self, field: str) -> Self:
        """This error, about ``field`` of the request form (``core.checks``)."""
        self.field = field
        return self


class InvalidInput(JitError):
    """The user's input cannot be understood or is out of bounds; nothing was changed."""


class NotFound(JitError):
    pass


class NodeNotFound(NotFound):
    pass


class AmbiguousNode(JitError):
    def __init__(self, reference: str, candidates: list[str]) -> None:
        self.candidates = candidates
        listed = ", ".join(candidates[:10]) + (" …" if len(candidates) > 10 else "")
        super().__init__(TP("'{reference}' matches {count} node: {listed}. Use the node id.",
                            "'{reference}' matches {count} nodes: {listed}. Use the node id.",
                            len(candidates), reference=reference, listed=listed))


class NotAllowed(JitError):
    """The actor may not do this; nothing was changed."""


class Conflict(JitError):
    """The request is no longer in a state that allows this (someone else acted first)."""


class Unavailable(JitError):
    """Something jitbot depends on (AWS, Slack) did not answer in time; nothing was changed, try again."""


class GrantRefused(Exception):
    """AWS refused the grant for a reason retrying will not fix (AccessDenied, missing role, size limit)."""


class TransientAwsError(Exception):
    """AWS did not confirm; try again later."""


class Undelivered(Exception):
    """Slack did not take (all of) a message; what did get through is carried along so it is not sent twice.

    ``permanent``: retrying will not help (a channel that does not exist, a message Slack refuses).
    """

    def __init__(self, message: str, *, sent: frozenset[str] = frozenset(), refs: tuple[MessageRef, ...] = (),
                 permanent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        self.refs = refs
        self.permanent = permanent
