"""Fixtures of the reliability tests: one bot per module (on SQLite, and on PostgreSQL when
``JITBOT_TEST_DATABASE_URL`` names one), the role that receives the grants, and the tally of figures
(requests tried, faults injected, crashes survived, audit trails checked) printed at the end of a run.

Set ``JITBOT_RELIABILITY_FIGURES=<file>`` to have each pytest process append its tally there as a JSON line
(with ``pytest -n``, the workers' summaries are not shown)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from tests.conftest import database_urls, fresh_database
from tests.reliability.support import ROLE, RelStack

FIGURES = pytest.StashKey[Counter[str]]()


def _tally(config: pytest.Config) -> Counter[str]:
    if FIGURES not in config.stash:
        config.stash[FIGURES] = Counter()
    return config.stash[FIGURES]


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Counter[str]:
    """Count what a test tried: ``figures["requests: authenticity"] += 1``."""
    return _tally(request.config)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    tally = _tally(config)
    if tally:
        terminalreporter.section("reliability figures")
        for key in sorted(tally):
            terminalreporter.write_line(f"{key}: {tally[key]}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("JITBOT_RELIABILITY_FIGURES")
    tally = _tally(session.config)
    if target and tally:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(dict(tally)) + "\n")


@pytest.fixture(scope="module", params=database_urls())
def module_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return fresh_database(request.param, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="module")
def grantee(fake_aws: tuple[FakeAws, dict[str, str]]) -> str:
    """The IAM role that receives the grants of these tests (theirs alone, so counting its policies is exact)."""
    aws, _ = fake_aws
    aws.create_role(ROLE.rsplit("/", 1)[-1])
    return ROLE


StackMaker = Callable[..., RelStack]


@pytest.fixture(scope="module")
def module_stacks(fake_slack: FakeSlack, fake_aws: tuple[FakeAws, dict[str, str]], module_database: str,
                  tmp_path_factory: pytest.TempPathFactory, grantee: str) -> Iterator[StackMaker]:
    """Builds bots on the module's database and the session's fakes; stops them at the end of the module."""
    made: list[RelStack] = []

    def make(policies: str, *, max_attempts: int = 5, **kwargs: object) -> RelStack:
        aws, nodes = fake_aws
        workdir = Path(tmp_path_factory.mktemp("stack"))
        stack = RelStack(workdir, policies=policies, database_url=module_database, slack=fake_slack, aws=aws,
                         nodes=nodes, **kwargs)  # type: ignore[arg-type]
        stack.max_attempts = max_attempts
        made.append(stack)
        return stack.start()  # type: ignore[return-value]

    yield make
    for stack in made:
        stack.stop()
    fake_aws[0].clear_faults()
