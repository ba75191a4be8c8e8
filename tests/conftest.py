"""Shared fixtures: the fakes of Slack and AWS (one of each per session), a fresh bot per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from fakes.stack import Stack, seed_aws, seed_slack

PG_URL = os.environ.get("JITBOT_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        seed_slack(slack)
        yield slack


@pytest.fixture(scope="session")
def fake_aws() -> Iterator[tuple[FakeAws, dict[str, str]]]:
    aws = FakeAws()
    aws.start()
    try:
        yield aws, seed_aws(aws)
    finally:
        aws.stop()


def database_urls() -> list[str]:
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def fresh_database(kind: str, workdir: Path) -> str:
    """A database of its own for one test: a SQLite file, or a new PostgreSQL schema."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'jitbot.db'}"
    assert PG_URL is not None
    from sqlalchemy import create_engine, text

    schema = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    joiner = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture(params=database_urls())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database(request.param, tmp_path)


@pytest.fixture
def stack_factory(fake_slack: FakeSlack, fake_aws: tuple[FakeAws, dict[str, str]], tmp_path: Path,
                  database_url: str) -> Iterator[object]:
    stacks: list[Stack] = []

    def make(policies: str | None = None, **kwargs: object) -> Stack:
        aws, nodes = fake_aws
        fake_slack.clear()
        stack = Stack(tmp_path, policies=policies, database_url=database_url, slack=fake_slack, aws=aws,
                      nodes=nodes, **kwargs)  # type: ignore[arg-type]
        stacks.append(stack)
        return stack.start()

    yield make
    for stack in stacks:
        stack.stop()
    check_every_payload(fake_slack)


def check_every_payload(slack: FakeSlack) -> None:
    """Every Block Kit payload the bot sent during the test parses and renders with slack_sdk.models."""
    from tests.helpers import valid_blocks, valid_view

    for call in slack.calls:
        blocks, view = call.params.get("blocks"), call.params.get("view")
        if isinstance(blocks, list):
            valid_blocks(blocks)
        if isinstance(view, dict):
            valid_view(view)


@pytest.fixture
def stack(stack_factory: object) -> Stack:
    return stack_factory()  # type: ignore[operator, no-any-return]
