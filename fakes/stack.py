"""The whole bot on embedded fakes: fake Slack, moto, a real database and the real HTTP server.

Used by ``jitbot demo``, the end-to-end tests and the benchmarks, so all three exercise the same wiring
as production: only Slack's and AWS's servers are stand-ins.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.app import Runtime, build
from bot.policies import PolicyHolder
from bot.root import account_roles, identity_center_config
from bot.server import HttpServer
from bot.settings import Settings
from core.ports import Clock
from fakes import cast
from fakes.aws import FakeAws
from fakes.aws_identity import add_idc_group, add_idc_user
from fakes.slack_api import FakeSlack
from fakes.slack_client import SlackSimulator

REPO_POLICIES = Path(__file__).resolve().parents[1] / "policies.toml"


class Stack:
    """Start with ``Stack(workdir).start()``; ``restart()`` rebuilds the bot on the same database."""

    def __init__(self, workdir: Path, *, policies: str | None = None, database_url: str | None = None,
                 sweep_seconds: float = 0.5, slack: FakeSlack | None = None, aws: FakeAws | None = None,
                 settings: dict[str, Any] | None = None, nodes: dict[str, str] | None = None,
                 clock: Clock | None = None) -> None:
        self.workdir = workdir
        self.policies_path = workdir / "policies.toml"
        self.policies_path.write_text(policies if policies is not None else _default_policies(), "utf-8")
        self.database_url = database_url or f"sqlite:///{workdir / 'jitbot.db'}"
        self.sweep_seconds = sweep_seconds
        self.signing_secret = secrets.token_hex(16)
        self.slack = slack or FakeSlack()
        self.aws = aws or FakeAws()
        self._own_fakes = (slack is None, aws is None)
        self.extra_settings = settings or {}
        self.nodes: dict[str, str] = dict(nodes or {})
        #: the bot's clock (the system's unless a test drives time)
        self.clock = clock
        self.runtime: Runtime | None = None
        self.http: HttpServer | None = None
        self.sim: SlackSimulator | None = None

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> Stack:
        if self._own_fakes[0]:
            self.slack.start()
            seed_slack(self.slack)
        if self._own_fakes[1]:
            self.aws.start()
            self.nodes = seed_aws(self.aws)
        self.boot()
        return self

    def settings(self) -> Settings:
        return Settings(
            slack_bot_token=SecretStr("xoxb-test-token"),
            slack_signing_secret=SecretStr(self.signing_secret),
            slack_api_url=self.slack.url,
            database_url=self.database_url,
            jit_policies=str(self.policies_path),
            aws_region="us-east-1",
            aws_endpoint_url=self.aws.endpoint_url,
            sweep_seconds=self.sweep_seconds,
            host="127.0.0.1",
            port=0,
            **self.extra_settings,
        )

    def boot(self) -> None:
        settings = self.settings()
        self.runtime = build(settings, aws=self.aws_gateway, clock=self.clock)
        self.runtime.start()
        self.http = HttpServer(self.runtime, "127.0.0.1", 0, threads=settings.http_threads).start()
        self.sim = SlackSimulator(f"http://127.0.0.1:{self.http.port}", self.signing_secret, self.slack)

    def aws_gateway(self, settings: Settings, policies: PolicyHolder) -> Any:
        from aws.gateway import AwsGateway

        return AwsGateway(self.aws.session, "us-east-1", endpoint_url=self.aws.endpoint_url,
                          account_id=cast.ACCOUNT, accounts=lambda: account_roles(policies()),
                          identity_center=lambda: identity_center_config(policies()), idc_poll=0.05)

    def shutdown_bot(self) -> None:
        if self.http is not None:
            self.http.stop()
            self.http = None
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None

    def restart(self) -> None:
        self.shutdown_bot()
        self.boot()

    def stop(self) -> None:
        self.shutdown_bot()
        with contextlib.suppress(Exception):
            if self._own_fakes[0]:
                self.slack.stop()
        with contextlib.suppress(Exception):
            if self._own_fakes[1]:
                self.aws.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # conveniences ----------------------------------------------------------------------------
    @property
    def app_url(self) -> str:
        assert self.http is not None
        return f"http://127.0.0.1:{self.http.port}"

    def slash(self, user: str, text: str) -> str:
        """Run ``/jit <text>`` as ``user``; returns the ephemeral answer jitbot sent to response_url."""
        assert self.sim is not None
        before = len(self.slack.calls_to("response_url"))
        response = self.sim.command(user, text)
        assert response.status == 200, response.body
        call = self.slack.wait_for(lambda c: c.method == "response_url"
                                   and len(self.slack.calls_to("response_url")) > before, timeout=15)
        return str(self.slack.calls_to("response_url")[before].params.get("text", call.params.get("text")))

    def click(self, user: str, action_id: str, value: str, channel: str = "C0SREAPPR") -> str:
        """Click a button on a message in ``channel`` as ``user``; returns the ephemeral answer."""
        assert self.sim is not None
        before = len(self.slack.calls_to("response_url"))
        response = self.sim.block_action(user, action_id, value, channel_id=channel)
        assert response.status == 200, response.body
        self.slack.wait_for(lambda c: c.method == "response_url"
                            and len(self.slack.calls_to("response_url")) > before, timeout=15)
        return str(self.slack.calls_to("response_url")[before].params.get("text"))


def _default_policies() -> str:
    return REPO_POLICIES.read_text("utf-8")


def seed_slack(slack: FakeSlack) -> None:
    for user_id, info in cast.USERS.items():
        slack.add_user(user_id, email=str(info.get("email")) if info.get("email") else None,
                       name=str(info.get("name")), title=str(info.get("title", "")) or None,
                       deleted=bool(info.get("deleted", False)))
    for group_id, members in cast.GROUPS.items():
        slack.add_group(group_id, members)


def seed_aws(aws: FakeAws) -> dict[str, str]:
    """Create the cast's roles, users and nodes in moto; returns node name → instance id (last wins)."""
    for role in cast.ROLES:
        aws.create_role(role)
    for user in cast.IAM_USERS:
        aws.create_user(user)
    nodes: dict[str, str] = {}
    for spec in cast.NODES:
        nodes[spec.name] = aws.add_instance(name=spec.name, tags=spec.tags)
    return nodes


@dataclass(frozen=True)
class IdentityCenterSeed:
    """moto's IAM Identity Center instance as ``seed_identity_center`` left it."""

    instance_arn: str
    identity_store_id: str
    #: Identity Store user name → UserId, group DisplayName → GroupId
    users: dict[str, str]
    groups: dict[str, str]


def seed_identity_center(aws: FakeAws, store: str = cast.IDC_STORE) -> IdentityCenterSeed:
    """moto's Identity Center instance (home account and region) with the cast's Identity Store users and groups
    (``cast.IDC_USERS``, ``cast.IDC_GROUPS``) in the identity store ``store``. Not part of ``seed_aws``: tests that
    share one moto make their own Identity Store users, and two users with one email make every lookup ambiguous."""
    instance = aws.identity_center()[0]
    users = {name: add_idc_user(aws, store, name, name, attributes=attributes or None)
             for name, attributes in cast.IDC_USERS.items()}
    groups = {name: add_idc_group(aws, store, name, [users[member] for member in members])
              for name, members in cast.IDC_GROUPS.items()}
    return IdentityCenterSeed(instance, store, users, groups)
