"""Finding nodes: EC2 instances and SSM managed nodes, by id or by ``Name`` tag, in any configured account."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from aws.arns import ACCOUNT_ID, INSTANCE_ID, MANAGED_ID, REGION
from aws.clients import Clients
from aws.errors import NodeLookupError, describe, error_code, is_transient
from core.errors import AmbiguousNode, InvalidInput, NodeNotFound, TransientAwsError
from core.i18n import T
from core.model import Node

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

log = logging.getLogger(__name__)
V = TypeVar("V")

_LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_NOT_FOUND = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed", "InvalidInstanceId",
                        "InvalidResourceId"})


class TTLCache(Generic[V]):
    """A small thread-safe cache whose entries live ``ttl`` seconds (oldest dropped beyond ``size``)."""

    def __init__(self, ttl: float, size: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._size, self._clock = ttl, size, clock
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._data[key]
                return None
            return found[1]

    def put(self, key: Hashable, value: V) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            self._data[key] = (self._clock() + self._ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


#: what EC2 and SSM filters read as wildcards: a reference with one would list nodes the person may not see
WILDCARDS = frozenset("*?")


def refuse_wildcards(text: str) -> None:
    if WILDCARDS & set(text):
        raise InvalidInput(T("Node references take no wildcards (* or ?): give a node id (i-…, mi-…) or its exact "
                             "Name; `/jit nodes <part of a name>` lists the nodes you may request."))


def parse_reference(reference: str) -> tuple[str | None, str | None, str]:
    """``[account/][region/]node`` (either order) → (account, region, node)."""
    parts = reference.strip().split("/")
    account = region = None
    while len(parts) > 1:
        head = parts[0].strip()
        if account is None and ACCOUNT_ID.match(head):
            account = head
        elif region is None and REGION.match(head):
            region = head
        else:
            break
        parts.pop(0)
    return account, region, "/".join(parts).strip()


class NodeFinder:
    """The ``NodeDirectory`` port. Results are cached for ``ttl`` seconds."""

    def __init__(self, clients: Clients, *, ttl: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clients = clients
        self._nodes: TTLCache[Node] = TTLCache(ttl, 4096, clock)
        self._inventory: TTLCache[list[Node]] = TTLCache(ttl, 64, clock)

    def invalidate(self) -> None:
        self._nodes.clear()
        self._inventory.clear()

    # -- resolve -----------------------------------------------------------------------------------------
    def resolve(self, reference: str) -> Node:
        refuse_wildcards(reference)
        account, region, ident = parse_reference(reference)
        if not ident:
            raise NodeNotFound(T("Which node? Give an instance id (i-…), a managed node id (mi-…) or its Name."))
        region = region or self._clients.region
        key = (account, region, ident)
        cached = self._nodes.get(key)
        if cached is not None:
            return cached
        node = self._resolve(account, region, ident)
        self._nodes.put(key, node)
        return node

    def _resolve(self, account: str | None, region: str, ident: str) -> Node:
        is_id = bool(INSTANCE_ID.match(ident) or MANAGED_ID.match(ident))
        home = self._guard(self._clients.home_account, "the home account", region)
        where = account or home
        found = self._find(where, region, ident)
        if not found and is_id and account is None:
            for other in self._clients.role_arns():  # an id is unique enough to look for elsewhere
                if other != home:
                    found = self._quietly(self._find, other, region, ident) or []
                    if found:
                        break
        if not found:
            if is_id:
                raise NodeNotFound(T("No node '{node}' in account {account} ({region}).", node=ident, account=where,
                                     region=region))
            raise NodeNotFound(T("No EC2 instance or SSM managed node named '{node}' in account {account} ({region}).",
                                 node=ident, account=where, region=region))
        if len(found) > 1:
            raise AmbiguousNode(ident, sorted(n.label for n in found))
        return found[0]

    def _find(self, account: str, region: str, ident: str) -> list[Node]:
        def run() -> list[Node]:
            if INSTANCE_ID.match(ident):
                return self._ec2(account, region, [{"Name": "instance-id", "Values": [ident]}])
            if MANAGED_ID.match(ident):
                return self._managed(account, region, [{"Key": "InstanceIds", "Values": [ident]}])
            by_tag = [{"Name": "tag:Name", "Values": [ident]}]
            nodes = self._ec2(account, region, by_tag)
            nodes += self._managed(account, region, [{"Key": "tag:Name", "Values": [ident]}])
            return nodes

        return self._guard(run, f"account {account}", region)

    # -- search ------------------------------------------------------------------------------------------
    def search(self, text: str, limit: int = 100) -> list[Node]:
        refuse_wildcards(text)
        account, region, needle = parse_reference(text)
        region = region or self._clients.region
        needle = needle.lower()
        if account is not None:
            nodes = self._everything(account, region)
        else:
            home = self._guard(self._clients.home_account, "the home account", region)
            nodes = self._everything(home, region)
            for other in self._clients.role_arns():
                if other != home:
                    nodes += self._quietly(self._everything, other, region) or []
        hits = [n for n in nodes if needle in n.id.lower() or needle in (n.name or "").lower()]
        hits.sort(key=lambda n: (not (n.name or n.id).lower().startswith(needle), (n.name or "~").lower(),
                                 n.id))
        return hits[:max(0, limit)]

    # -- tagged ------------------------------------------------------------------------------------------
    def tagged(self, key: str, value: str, *, prefix: str | None = None, limit: int = 100) -> list[Node]:
        """The nodes carrying ``key`` = ``value``: in the home account and every other one configured (a
        failing other account is skipped, as in ``search``), or in the account and region ``prefix`` names."""
        refuse_wildcards(key + value)
        account, region, rest = parse_reference(f"{prefix}/-") if prefix else (None, None, "-")
        if rest != "-":
            raise InvalidInput(f"'{prefix}/' is not an account id or a region: write `tag:{key}={value}`, or "
                               f"`<account>/<region>/tag:{key}={value}`.")
        region = region or self._clients.region
        if account is not None:
            found = self._tagged(account, region, key, value)
        else:
            home = self._guard(self._clients.home_account, "the home account", region)
            found = self._tagged(home, region, key, value)
            for other in self._clients.role_arns():
                if other != home:
                    found += self._quietly(self._tagged, other, region, key, value) or []
        found.sort(key=lambda n: ((n.name or "~").lower(), n.id))
        return found[:max(0, limit)]

    def _tagged(self, account: str, region: str, key: str, value: str) -> list[Node]:
        def run() -> list[Node]:
            nodes = self._ec2(account, region, [{"Name": f"tag:{key}", "Values": [value]}])
            return nodes + self._managed(account, region, [{"Key": f"tag:{key}", "Values": [value]}])

        return self._guard(run, f"account {account}", region)

    def _everything(self, account: str, region: str) -> list[Node]:
        key = (account, region)
        cached = self._inventory.get(key)
        if cached is None:
            cached = self._guard(lambda: self._ec2(account, region, []) + self._managed(account, region, []),
                                 f"account {account}", region)
            self._inventory.put(key, cached)
        return list(cached)

    # -- AWS ---------------------------------------------------------------------------------------------
    def _ec2(self, account: str, region: str, filters: list[Any]) -> list[Node]:
        client = self._clients.ec2(account, region)
        state: Any = {"Name": "instance-state-name", "Values": _LIVE_STATES}
        instances: list[InstanceTypeDef] = []
        try:
            for page in client.get_paginator("describe_instances").paginate(Filters=[*filters, state]):
                for reservation in page.get("Reservations", []):
                    instances.extend(reservation.get("Instances", []))
        except ClientError as err:
            if error_code(err) in _NOT_FOUND:
                return []
            raise
        info = self._ssm_info(account, region, [i["InstanceId"] for i in instances])
        nodes = []
        for inst in instances:
            tags = {t["Key"]: t["Value"] for t in inst.get("Tags", []) if "Key" in t and "Value" in t}
            ssm = info.get(inst["InstanceId"], {})
            windows = inst.get("Platform") == "windows"
            platform = ssm.get("PlatformType") or ("Windows" if windows else "Linux")
            nodes.append(Node(id=inst["InstanceId"], account=account, region=region, name=tags.get("Name"),
                              tags=tags, ping_status=ssm.get("PingStatus"), platform=platform))
        return nodes

    def _ssm_info(self, account: str, region: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 50):
            chunk = list(ids[start:start + 50])
            for item in self._information(account, region, [{"Key": "InstanceIds", "Values": chunk}]):
                found[item["InstanceId"]] = item
        return found

    def _information(self, account: str, region: str, filters: list[Any]) -> Iterable[dict[str, Any]]:
        client = self._clients.ssm(account, region)
        paginator = client.get_paginator("describe_instance_information")
        try:
            for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 50}):
                yield from page.get("InstanceInformationList", [])  # type: ignore[misc]
        except ClientError as err:
            if error_code(err) not in _NOT_FOUND:
                raise

    def _managed(self, account: str, region: str, filters: list[Any]) -> list[Node]:
        client = self._clients.ssm(account, region)
        nodes = []
        for item in self._information(account, region, filters):
            node_id = item["InstanceId"]
            if not node_id.startswith("mi-"):
                continue  # EC2 instances are described by EC2
            listed = client.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=node_id)
            tags = {t["Key"]: t["Value"] for t in listed.get("TagList", [])}
            nodes.append(Node(id=node_id, account=account, region=region, name=tags.get("Name"), tags=tags,
                              ping_status=item.get("PingStatus"), platform=item.get("PlatformType")))
        return nodes

    def _guard(self, call: Callable[[], V], where: str, region: str) -> V:
        """AWS failures as the domain knows them: transient, or a standing refusal shown to the user."""
        try:
            return call()
        except (ClientError, BotoCoreError) as err:
            if is_transient(err):
                raise TransientAwsError(f"Looking up nodes in {where} ({region}): {describe(err)}") from err
            raise NodeLookupError(f"jitbot cannot look up nodes in {where} ({region}): "
                                  f"{describe(err)}") from err

    @staticmethod
    def _quietly(call: Callable[..., V], *args: Any) -> V | None:
        """Another account is a bonus when looking around: its failures are logged, not raised."""
        try:
            return call(*args)
        except (NodeLookupError, TransientAwsError) as err:
            log.warning("skipping an account while looking for nodes: %s", err)
            return None
