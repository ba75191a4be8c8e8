"""Fixtures of the AWS adapter's tests: one FakeAws (moto) for the session; names made unique per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from aws.gateway import AwsGateway
from core.model import AccessRequest, Kind, Node, State
from fakes.aws import DEFAULT_ACCOUNT, SECOND_ACCOUNT, FakeAws

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_aws(fake_aws: tuple[FakeAws, dict[str, str]]) -> FakeAws:
    """The session's FakeAws (tests/conftest.py): moto's backends are process-wide anyway, so a second server
    would isolate nothing and cost a start-up; these tests keep apart by unique names instead."""
    fake, _ = fake_aws
    assert fake.region == REGION
    fake.add_account(SECOND_ACCOUNT)
    return fake


@pytest.fixture(autouse=True)
def _no_leftover_faults(moto_aws: FakeAws) -> Iterator[None]:
    yield
    moto_aws.clear_faults()


@pytest.fixture
def uid() -> str:
    """A suffix that keeps this test's roles, users and node names apart from every other test's."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def make_gateway(moto_aws: FakeAws) -> Callable[..., AwsGateway]:
    def make(**overrides: object) -> AwsGateway:
        options: dict[str, object] = {
            "endpoint_url": moto_aws.endpoint_url,
            "accounts": {SECOND_ACCOUNT: f"arn:aws:iam::{SECOND_ACCOUNT}:role/jitbot"},
            "max_attempts": 3,
        }
        options.update(overrides)
        return AwsGateway(moto_aws.session, REGION, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def gateway(make_gateway: Callable[..., AwsGateway]) -> AwsGateway:
    """One gateway for the session (a new boto3 session re-reads the service models: ~1 s), without a cache
    so that every test sees AWS as it is now."""
    return make_gateway(cache_seconds=0)


def access_request(node: Node, principal_arn: str, request_id: str | None = None) -> AccessRequest:
    now = datetime.now(UTC)
    return AccessRequest(
        id=request_id or "R" + uuid.uuid4().hex[:8].upper(), requester="U0ALICE01", principal_arn=principal_arn,
        node=node, reason="disk full on /var", duration=timedelta(hours=1), policy="production",
        kind=Kind.MANUAL, levels=(), state=State.APPROVED, created_at=now,
    )


@pytest.fixture
def make_request() -> Callable[..., AccessRequest]:
    """``make_request(node, principal_arn, request_id=None)``: an approved AccessRequest built directly."""
    return access_request


@pytest.fixture
def home_account() -> str:
    return DEFAULT_ACCOUNT
