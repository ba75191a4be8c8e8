"""IAM Identity Center as jitbot names it: the principal of an Identity Store user, ``idc-group:`` entries of the
policy file, and what jitbot reads of an Identity Store user. Pure: the Identity Store itself is a port
(``core.ports.IdentityStore``), its adapter lives in ``aws.identitystore``.

An Identity Center person's grants go to the principal ``arn:aws:identitystore:::user/<UserId>``, the ARN the
Identity Store itself gives its users (``DescribeUser``'s ``UserArn``); the access backend routes on that prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

#: the principal of an Identity Store user (the Identity Store's own ``UserArn``)
IDC_USER_PREFIX = "arn:aws:identitystore:::user/"
#: a policy-file entry naming an Identity Center group by ``DisplayName`` or ``GroupId``
IDC_GROUP_PREFIX = "idc-group:"
#: an Identity Store user or group id (``GetUserId``/``GetGroupId`` answers), as AWS's API model allows it
STORE_ID = re.compile(r"^([0-9a-f]{10}-)?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
#: what jitbot accepts as an Identity Store id inside a Cedar entity (AWS's own examples use placeholder ids
#: such as ``d4q81745-r081-7079-d789-14da1EXAMPLE``; ``policies check`` asks the Identity Store about each)
LOOSE_STORE_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{7,99}$")
#: an Identity Store group's DisplayName: 1 to 1024 printable characters, no leading or trailing space
_DISPLAY_NAME = re.compile(r"^\S(?:[^\x00-\x1f\x7f]{0,1022}\S)?$")

#: the JITNA Cedar attributes of ``AWS::IdentityStore::User`` and where jitbot reads each: the Identity Store's
#: enterprise extension (``DescribeUser`` with ``Extensions=["aws:identitystore:enterprise"]``)
ENTERPRISE_EXTENSION = "aws:identitystore:enterprise"
JITNA_ATTRIBUTES = ("employeeNumber", "costCenter", "organization", "division")


def idc_user_principal(user_id: str) -> str:
    """The principal of the Identity Store user ``user_id``: ``arn:aws:identitystore:::user/<UserId>``."""
    if not STORE_ID.match(user_id):
        raise ValueError(f"'{user_id}' is not an Identity Store user id (a UUID, optionally after a 10-hex-digit "
                         "store prefix, such as '9067a4c2-b0a1-70e5-1b9c-3f5e2d1c0a11')")
    return IDC_USER_PREFIX + user_id


def idc_user_id(principal: str) -> str | None:
    """The Identity Store user id of a principal made by ``idc_user_principal``; None for any other principal."""
    if not principal.startswith(IDC_USER_PREFIX):
        return None
    user_id = principal[len(IDC_USER_PREFIX):]
    return user_id if STORE_ID.match(user_id) else None


def is_idc_group(entry: str) -> bool:
    return entry.startswith(IDC_GROUP_PREFIX)


def idc_group_ref(entry: str) -> str:
    """What an ``idc-group:`` entry names: a GroupId or a DisplayName."""
    return entry[len(IDC_GROUP_PREFIX):]


def check_idc_group(entry: str) -> str:
    """``idc-group:<DisplayName>`` or ``idc-group:<GroupId>``, or ``ValueError`` saying what is wrong."""
    ref = idc_group_ref(entry)
    if not ref:
        raise ValueError(f"'{entry}' names no group: write idc-group:<DisplayName> or idc-group:<GroupId>")
    if not _DISPLAY_NAME.match(ref):
        raise ValueError(f"'{entry}': '{ref}' is neither an Identity Store GroupId nor a group DisplayName "
                         "(1 to 1024 printable characters, no leading or trailing space)")
    return entry


@dataclass(frozen=True)
class IdcUser:
    """An Identity Store user as jitbot reads it (``DescribeUser``)."""

    user_id: str
    user_name: str
    #: the primary email (``Emails[]`` with ``Primary``), or the only one
    email: str | None = None
    display_name: str | None = None
    #: the JITNA attributes present (``JITNA_ATTRIBUTES``), from the enterprise extension
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IdcGroup:
    group_id: str
    display_name: str
