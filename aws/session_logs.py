"""Where Session Manager keeps session logs: the account's preferences, i.e. the inputs of its
``SSM-SessionManagerRunShell`` document (``s3BucketName``/``s3KeyPrefix``, ``cloudWatchLogGroupName``), per account
and region, read at most every ``ttl`` seconds. Each session's log is then a CloudWatch log stream named after the
session in that group, or the S3 object ``<prefix>/<session id>.log`` in that bucket; ``link`` gives its console URL.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from aws import errors
from aws.clients import Clients
from core.errors import JitError
from core.model import Node

log = logging.getLogger(__name__)

PREFERENCES_DOCUMENT = "SSM-SessionManagerRunShell"
#: the document does not exist: Session Manager's preferences were never saved, so nothing is logged
_ABSENT = frozenset({"InvalidDocument", "DocumentNotFound", "InvalidDocumentVersion"})


@dataclass(frozen=True)
class LogPlace:
    """Where an account sends session logs (either, both or neither)."""

    bucket: str | None = None
    prefix: str = ""
    log_group: str | None = None

    @property
    def logged(self) -> bool:
        return bool(self.bucket or self.log_group)


def _cloudwatch_part(text: str) -> str:
    """The CloudWatch console's escaping of a log group or stream in its URL fragment (``/`` → ``$252F``)."""
    return quote(quote(text, safe=""), safe="").replace("%", "$")


def log_url(place: LogPlace, node: Node, session_id: str) -> tuple[str, str]:
    """("cloudwatch" | "s3" | "none", console URL or "") of a session's log; CloudWatch first when both."""
    region = node.region
    if place.log_group:
        return "cloudwatch", (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:"
                              f"log-groups/log-group/{_cloudwatch_part(place.log_group)}/log-events/"
                              f"{_cloudwatch_part(session_id)}")
    if place.bucket:
        prefix = place.prefix.strip("/")
        key = f"{prefix}/{session_id}" if prefix else session_id
        return "s3", (f"https://s3.console.aws.amazon.com/s3/buckets/{quote(place.bucket, safe='')}"
                      f"?region={region}&prefix={quote(key, safe='')}")
    return "none", ""


class SessionLogs:
    """The log places of the accounts jitbot reaches, cached; ``link`` never raises (unknown: (None, None))."""

    def __init__(self, clients: Clients, ttl: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.clients, self.ttl, self._clock = clients, ttl, clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, LogPlace]] = {}

    def place(self, account: str, region: str) -> LogPlace:
        """The account's log place in ``region``; ``TransientAwsError`` when the preferences cannot be read."""
        key = (account, region)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] < self.ttl:
            return cached[1]
        found = self._read(account, region)
        with self._lock:
            self._cache[key] = (self._clock(), found)
        return found

    def link(self, node: Node, session_id: str) -> tuple[str | None, str | None]:
        try:
            place = self.place(node.account, node.region)
        except JitError as err:
            log.warning("could not read Session Manager's preferences", extra={"account": node.account,
                                                                              "error": str(err)})
            return None, None
        where, url = log_url(place, node, session_id)
        return where, url or None

    def _read(self, account: str, region: str) -> LogPlace:
        what = f"reading Session Manager's preferences ({PREFERENCES_DOCUMENT}) in {account}/{region}"
        try:
            found = self.clients.ssm(account, region).get_document(Name=PREFERENCES_DOCUMENT,
                                                                    DocumentFormat="JSON")
        except ClientError as err:
            if errors.error_code(err) in _ABSENT:
                return LogPlace()
            raise errors.transient(err, what) from err
        except (BotoCoreError, JitError) as err:
            raise errors.transient(err, what) from err
        try:
            inputs = json.loads(found.get("Content") or "{}").get("inputs") or {}
        except (ValueError, AttributeError):
            return LogPlace()
        bucket = str(inputs.get("s3BucketName") or "").strip() or None
        group = str(inputs.get("cloudWatchLogGroupName") or "").strip() or None
        return LogPlace(bucket=bucket, prefix=str(inputs.get("s3KeyPrefix") or ""), log_group=group)
