"""IAM Identity Center people as jitbot principals: ``arn:aws:identitystore:::user/<UserId>``.

An Identity Center user has no IAM ARN of their own; jitbot names them with this Identity Store form wherever an
IAM role or user ARN would go (``AccessRequest.principal_arn``, ``[identities]`` values). Pure functions only.
"""

from __future__ import annotations

import re

_PREFIX = "arn:aws:identitystore:::user/"
#: Identity Store user ids: a UUID, optionally after a 10-hex-digit store prefix (``1234567890-…``)
_USER_ID = re.compile(r"^(?:[0-9a-f]{10}-)?[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$")


def idc_user_principal(user_id: str) -> str:
    """The principal string of an Identity Store user id. Raises ``ValueError`` for something else."""
    if not _USER_ID.match(user_id):
        raise ValueError(f"'{user_id}' is not an Identity Store user id (a UUID, such as "
                         "'9067a4c2-b0a1-70e5-1b9c-3f5e2d1c0a11')")
    return _PREFIX + user_id


def idc_user_id(principal: str) -> str | None:
    """The Identity Store user id of an Identity Center principal string; None for anything else."""
    if not principal.startswith(_PREFIX):
        return None
    user_id = principal[len(_PREFIX):]
    return user_id if _USER_ID.match(user_id) else None
