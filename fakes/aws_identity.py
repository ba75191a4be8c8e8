"""What moto's identity store lacks (moto 5): the enterprise extension of a user's attributes (``Extensions`` on
``CreateUser`` and ``DescribeUser``, where JITNA's ``employeeNumber``, ``costCenter``, ``organization`` and
``division`` live) and the ``UserArn`` of ``DescribeUser``. moto is imported inside the function, when the fake
starts."""

from __future__ import annotations

import json
import threading
from typing import Any


def identitystore_extension() -> Any:
    """moto's identity store responses, keeping each user's extensions beside moto's own record of them."""
    from moto.identitystore.responses import IdentityStoreResponse

    lock = threading.Lock()
    extensions: dict[tuple[str, str, str], dict[str, Any]] = {}  # (account, store, user id) → name → document

    class ExtendedIdentityStoreResponse(IdentityStoreResponse):
        def create_user(self) -> str:
            answer = json.loads(super().create_user())
            given = self._get_param("Extensions") or {}
            if given:
                with lock:
                    extensions[(self.current_account, answer["IdentityStoreId"], answer["UserId"])] = dict(given)
            answer["UserArn"] = f"arn:aws:identitystore:::user/{answer['UserId']}"
            return json.dumps(answer)

        def describe_user(self) -> str:
            answer = json.loads(super().describe_user())
            answer["UserArn"] = f"arn:aws:identitystore:::user/{answer['UserId']}"
            wanted = self._get_param("Extensions") or []
            with lock:
                kept = extensions.get((self.current_account, answer["IdentityStoreId"], answer["UserId"]), {})
            found = {name: kept[name] for name in wanted if name in kept}
            if found:
                answer["Extensions"] = found
            return json.dumps(answer)

    return ExtendedIdentityStoreResponse


def add_idc_user(aws: Any, store_id: str, user_name: str, email: str | None = None, *,
                 emails: list[dict[str, Any]] | None = None, attributes: dict[str, str] | None = None,
                 region: str | None = None) -> str:
    """An Identity Store user (really created in moto) whose primary email is ``email``; ``attributes`` are its
    enterprise-extension attributes (``employeeNumber`` …). Returns its UserId. (Give every user an email: moto 5
    fails ``GetUserId`` by email with a 500 once a user without one exists.)"""
    listed = emails if emails is not None else ([{"Value": email, "Type": "work", "Primary": True}] if email else [])
    extra: dict[str, Any] = {"Extensions": {"aws:identitystore:enterprise": attributes}} if attributes else {}
    if listed:
        extra["Emails"] = listed
    client = aws.client("identitystore", region=region)
    given, family = (user_name.split("@")[0].capitalize(), "Example")
    return str(client.create_user(IdentityStoreId=store_id, UserName=user_name, DisplayName=user_name,
                                  Name={"GivenName": given, "FamilyName": family}, **extra)["UserId"])


def add_idc_group(aws: Any, store_id: str, name: str, members: list[str] = [],  # noqa: B006 (never mutated)
                  region: str | None = None) -> str:
    """An Identity Store group with these member UserIds; returns its GroupId."""
    client = aws.client("identitystore", region=region)
    group_id = str(client.create_group(IdentityStoreId=store_id, DisplayName=name)["GroupId"])
    for user_id in members:
        client.create_group_membership(IdentityStoreId=store_id, GroupId=group_id, MemberId={"UserId": user_id})
    return group_id
