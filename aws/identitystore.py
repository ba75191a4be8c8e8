"""``AwsIdentityStore``: the ``IdentityStore`` port on boto3's ``identitystore`` client, read only, each answer
cached for at most 60 s. Which identity store, and in which region, comes from ``[identity_center]`` in the
policy file in force (re-read on each use, so a reloaded file takes effect)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aws.cache import TtlCache
from aws.clients import Clients
from aws.errors import describe, error_code
from core.errors import NotFound, Unavailable
from core.i18n import T
from core.idc import ENTERPRISE_EXTENSION, JITNA_ATTRIBUTES, STORE_ID, IdcGroup, IdcUser
from core.policy.schema import IdentityCenter

_MISSING = frozenset({"ResourceNotFoundException"})


def _no_answer(err: Exception) -> Unavailable:
    return Unavailable(T("IAM Identity Center did not answer: {problem}", problem=describe(err)))


class AwsIdentityStore:
    def __init__(self, clients: Clients, config: Callable[[], IdentityCenter | None], ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clients = clients
        self._config = config
        self._cache = TtlCache(min(ttl, 60.0), clock)

    # -- the port --------------------------------------------------------------------------------------
    def users_by_email(self, email: str) -> tuple[str, ...]:
        store, client = self._where()
        return self._cache.get((store, "email", email.lower()),  # type: ignore[no-any-return]
                               lambda: self._by_email(store, client, email))

    def user(self, user_id: str) -> IdcUser:
        store, client = self._where()
        found: IdcUser | None = self._cache.get((store, "user", user_id), lambda: self._user(store, client, user_id))
        if found is None:
            raise NotFound(T("IAM Identity Center has no user {user}.", user=user_id))
        return found

    def group(self, ref: str) -> IdcGroup | None:
        store, client = self._where()
        return self._cache.get((store, "group", ref), lambda: self._group(store, client, ref))  # type: ignore[no-any-return]

    def group_member_ids(self, group_id: str) -> frozenset[str]:
        store, client = self._where()

        def load() -> frozenset[str]:
            pages = self._pages(client, "list_group_memberships", "GroupMemberships",
                                IdentityStoreId=store, GroupId=group_id)
            return frozenset(m["MemberId"]["UserId"] for m in pages if "UserId" in m.get("MemberId", {}))

        return self._cache.get((store, "members", group_id), lambda: self._ask(load))  # type: ignore[no-any-return]

    def groups_of(self, user_id: str) -> frozenset[str]:
        store, client = self._where()

        def load() -> frozenset[str]:
            pages = self._pages(client, "list_group_memberships_for_member", "GroupMemberships",
                                IdentityStoreId=store, MemberId={"UserId": user_id})
            return frozenset(m["GroupId"] for m in pages)

        return self._cache.get((store, "groups_of", user_id), lambda: self._ask(load))  # type: ignore[no-any-return]

    # -- helpers ---------------------------------------------------------------------------------------
    def _where(self) -> tuple[str, Any]:
        config = self._config()
        if config is None:
            raise Unavailable(T("the policy file has no [identity_center] table"))
        try:
            return config.identity_store_id, self._clients.identitystore(config.region)
        except (BotoCoreError, ValueError) as err:
            raise Unavailable(T("IAM Identity Center cannot be reached: {problem}", problem=describe(err))) from None

    @staticmethod
    def _ask(load: Callable[[], Any]) -> Any:
        try:
            return load()
        except (ClientError, BotoCoreError) as err:
            raise _no_answer(err) from None

    @staticmethod
    def _pages(client: Any, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        for page in client.get_paginator(operation).paginate(**params):
            yield from page.get(key, [])

    def _by_email(self, store: str, client: Any, email: str) -> tuple[str, ...]:
        """Users whose primary email is ``email`` (``GetUserId`` on ``emails.value``, checked with DescribeUser:
        it matches any of a user's emails) and the user whose ``UserName`` is ``email``."""
        found: set[str] = set()
        for path in ("emails.value", "userName"):
            identifier = {"UniqueAttribute": {"AttributePath": path, "AttributeValue": email}}
            try:
                user_id = str(client.get_user_id(IdentityStoreId=store, AlternateIdentifier=identifier)["UserId"])
            except ClientError as err:
                if error_code(err) in _MISSING:
                    continue
                if error_code(err) == "ConflictException":  # the identity store holds more than one
                    return ("(several)", "(several)")
                raise _no_answer(err) from None
            except BotoCoreError as err:
                raise _no_answer(err) from None
            if path == "emails.value":
                user = self.user(user_id)
                if user.email is None or user.email.lower() != email.lower():
                    continue  # a secondary email of someone: not who this is
            found.add(user_id)
        return tuple(sorted(found))

    def _user(self, store: str, client: Any, user_id: str) -> IdcUser | None:
        try:
            data = client.describe_user(IdentityStoreId=store, UserId=user_id, Extensions=[ENTERPRISE_EXTENSION])
        except ClientError as err:
            if error_code(err) in _MISSING:
                return None
            raise _no_answer(err) from None
        except BotoCoreError as err:
            raise _no_answer(err) from None
        emails = [e for e in data.get("Emails") or [] if e.get("Value")]
        primary = next((e for e in emails if e.get("Primary")), emails[0] if len(emails) == 1 else None)
        enterprise = (data.get("Extensions") or {}).get(ENTERPRISE_EXTENSION) or {}
        attributes = {k: v for k, v in enterprise.items() if k in JITNA_ATTRIBUTES and isinstance(v, str) and v}
        return IdcUser(user_id=user_id, user_name=str(data.get("UserName", "")),
                       email=str(primary["Value"]) if primary else None, display_name=data.get("DisplayName"),
                       attributes=attributes)

    def _group(self, store: str, client: Any, ref: str) -> IdcGroup | None:
        try:
            if STORE_ID.match(ref):
                try:
                    data = client.describe_group(IdentityStoreId=store, GroupId=ref)
                    return IdcGroup(str(data["GroupId"]), str(data.get("DisplayName") or ref))
                except ClientError as err:
                    if error_code(err) not in _MISSING:
                        raise
            identifier = {"UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": ref}}
            try:
                found = client.get_group_id(IdentityStoreId=store, AlternateIdentifier=identifier)
            except ClientError as err:
                if error_code(err) in _MISSING:
                    return None
                raise
            return IdcGroup(str(found["GroupId"]), ref)
        except (ClientError, BotoCoreError) as err:
            raise _no_answer(err) from None
