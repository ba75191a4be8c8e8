"""boto3 clients per account and region: the home account through the standard credential chain, other
accounts through STS AssumeRole of their ``[accounts]`` role, with credentials refreshed before they
expire."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any, Literal

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    CredentialProvider,
    CredentialResolver,
    Credentials,
    DeferredRefreshableCredentials,
)

from aws.errors import NodeLookupError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

#: account id → ARN of the role jitbot assumes there; or something that returns it (re-read on each use)
Accounts = Mapping[str, str] | Callable[[], Mapping[str, str]]
SessionFactory = Callable[[], boto3.session.Session]


class AccountNotConfigured(NodeLookupError):
    pass


class _Fixed(CredentialProvider):
    """Hands botocore one credentials object (ours, refreshable) instead of searching the chain."""

    METHOD = "jitbot-assume-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


class Clients:
    """Creates and keeps boto3 clients; nothing happens until the first client is asked for."""

    def __init__(self, session_factory: SessionFactory = boto3.session.Session, *, region: str | None = None,
                 endpoint_url: str | None = None, accounts: Accounts | None = None,
                 account_id: str | None = None, retry_mode: Literal["standard", "adaptive"] = "standard",
                 max_attempts: int = 5, connect_timeout: float = 5.0, read_timeout: float = 20.0,
                 role_session_name: str = "jitbot", assume_role_seconds: int = 3600) -> None:
        self._session_factory = session_factory
        self._region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self._endpoint_url = endpoint_url
        self._accounts = accounts
        self._home = account_id
        # total_max_attempts counts the first try too (botocore's "max_attempts" counts retries only)
        self._config = Config(retries={"mode": retry_mode, "total_max_attempts": max_attempts},
                              connect_timeout=connect_timeout, read_timeout=read_timeout,
                              user_agent_extra="jitbot")
        self._role_session_name = role_session_name
        self._assume_seconds = assume_role_seconds
        self._lock = threading.RLock()
        self._base: boto3.session.Session | None = None
        self._assumed: dict[tuple[str, str], boto3.session.Session] = {}
        self._clients: dict[tuple[str, str, str, str], Any] = {}

    # -- where -------------------------------------------------------------------------------------------
    @property
    def region(self) -> str:
        if self._region is None:
            self._region = self._base_session().region_name
            if not self._region:
                raise NodeLookupError("No AWS region configured: set AWS_REGION.")
        return self._region

    def home_account(self) -> str:
        """The account of jitbot's own credentials (asked of STS once, unless given)."""
        if self._home is None:
            identity = self.sts().get_caller_identity()
            self._home = identity["Account"]
        return self._home

    def role_arns(self) -> dict[str, str]:
        source = self._accounts
        if source is None:
            return {}
        mapping = source() if callable(source) else source
        return dict(mapping)

    def accounts(self) -> list[str]:
        """The home account first, then every account with a configured role."""
        home = self.home_account()
        return [home, *sorted(a for a in self.role_arns() if a != home)]

    # -- clients -----------------------------------------------------------------------------------------
    def sts(self) -> STSClient:
        return self._client("sts", None, self.region)  # type: ignore[no-any-return]

    def iam(self, account: str) -> IAMClient:
        return self._client("iam", account, self.region)  # type: ignore[no-any-return]

    def ec2(self, account: str, region: str) -> EC2Client:
        return self._client("ec2", account, region)  # type: ignore[no-any-return]

    def ssm(self, account: str, region: str) -> SSMClient:
        return self._client("ssm", account, region)  # type: ignore[no-any-return]

    def sso_admin(self, region: str) -> Any:
        """IAM Identity Center's admin API, with jitbot's own (home) credentials, in the instance's region."""
        return self._client("sso-admin", None, region)

    def events(self, region: str) -> Any:
        """Amazon EventBridge, with jitbot's own (home) credentials, in the bus's region (``[events]``)."""
        return self._client("events", None, region)

    def identitystore(self, region: str) -> Any:
        """IAM Identity Center's identity store, with jitbot's own credentials, in Identity Center's home region."""
        return self._client("identitystore", None, region)

    def _client(self, service: str, account: str | None, region: str) -> Any:
        session, role = self._session_for(account)
        key = (service, account or "", role, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = session.client(service, region_name=region,  # type: ignore[call-overload]
                                        endpoint_url=self._endpoint_url, config=self._config)
                self._clients[key] = client
            return client

    def _session_for(self, account: str | None) -> tuple[boto3.session.Session, str]:
        if account is None or account == self.home_account():
            return self._base_session(), ""
        role_arn = self.role_arns().get(account)
        if role_arn is None:
            raise AccountNotConfigured(f"Account {account} is not configured: add it to [accounts] with the "
                                       "role jitbot assumes there.")
        with self._lock:
            session = self._assumed.get((account, role_arn))
            if session is None:
                session = self._assumed_session(role_arn)
                self._assumed[(account, role_arn)] = session
            return session, role_arn

    def _base_session(self) -> boto3.session.Session:
        with self._lock:
            if self._base is None:
                self._base = self._session_factory()
            return self._base

    def _assumed_session(self, role_arn: str) -> boto3.session.Session:
        sts = self.sts()
        name, seconds = self._role_session_name, self._assume_seconds

        def refresh() -> dict[str, str]:
            found = sts.assume_role(RoleArn=role_arn, RoleSessionName=name, DurationSeconds=seconds)
            creds = found["Credentials"]
            expiry = creds["Expiration"].astimezone(UTC).isoformat()
            return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                    "token": creds["SessionToken"], "expiry_time": expiry}

        # botocore refreshes these 15 minutes before they expire (10 minutes: mandatory), under its own lock.
        credentials = DeferredRefreshableCredentials(refresh_using=refresh, method=_Fixed.METHOD)
        core = botocore.session.Session()
        core.register_component("credential_provider", CredentialResolver([_Fixed(credentials)]))
        base = getattr(self._base_session(), "_session", None)  # boto3 keeps its botocore session there
        if base is not None:  # share the service models already loaded instead of reading them again (~1 s)
            core.register_component("data_loader", base.get_component("data_loader"))
        return boto3.session.Session(botocore_session=core, region_name=self.region)
