"""``IamPrincipalTags``: the ``PrincipalTags`` port on IAM (``ListRoleTags``/``ListUserTags`` in the principal's
account), each answer cached for at most 60 s; Cedar reads them as ``context.iam.principalTags``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from aws.arns import parse_principal
from aws.cache import TtlCache
from aws.clients import Clients
from aws.errors import describe
from core.errors import JitError, Unavailable
from core.i18n import T


class IamPrincipalTags:
    def __init__(self, clients: Clients, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._clients = clients
        self._cache = TtlCache(min(ttl, 60.0), clock)

    def principal_tags(self, principal_arn: str) -> Mapping[str, str]:
        return self._cache.get(principal_arn, lambda: self._load(principal_arn))  # type: ignore[no-any-return]

    def _load(self, principal_arn: str) -> dict[str, str]:
        try:
            principal = parse_principal(principal_arn)
        except ValueError as err:
            raise Unavailable(str(err)) from None
        try:
            iam = self._clients.iam(principal.account)
            if principal.kind == "role":
                pages = iam.get_paginator("list_role_tags").paginate(RoleName=principal.name)
            else:
                pages = iam.get_paginator("list_user_tags").paginate(UserName=principal.name)
            return {tag["Key"]: tag["Value"] for page in pages for tag in page.get("Tags", [])}
        except (ClientError, BotoCoreError) as err:
            raise Unavailable(T("reading the tags of {arn}: {problem}", arn=principal.arn,
                                problem=describe(err))) from None
        except JitError as err:  # the principal's account is not configured
            raise Unavailable(T("reading the tags of {arn}: {problem}", arn=principal.arn,
                                problem=err.message)) from None
