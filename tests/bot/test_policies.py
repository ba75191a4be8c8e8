"""bot.policies: the holder swaps in a changed policy file only when it loads, audits every outcome and tells
the audit channel (the fake Slack) once per version; the watch thread notices changes and SIGHUP requests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.policies import PolicyHolder, PolicyWatch, Rejected, Reloaded
from core.model import AuditEvent
from fakes.slack_api import FakeSlack
from tests.fakes_core import POLICIES, FakeWorld
from tests.helpers import eventually

AUDIT = "C0AUDIT01"
DENY = """
[[deny]]
name = "freeze"
targets = { tags = { Environment = "prod" } }
"""
SYNTAX = POLICIES + "\n[[deny]\nname = 'oops'\n"
INVALID = POLICIES + '\n[[deny]]\nname = "freeze"\ntargets = { tags = { Environment = "prod" } }\nblock = "some"\n'


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write(path: Path, text: str) -> None:
    """Write, and move the mtime on by a second: the stat changes even on a coarse-grained file system."""
    path.write_text(text, "utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


class Setup:
    def __init__(self, tmp_path: Path, slack: FakeSlack, interval: float = 0.05, leading: bool = True) -> None:
        self.path = tmp_path / "policies.toml"
        write(self.path, POLICIES)
        self.world = FakeWorld()
        self.slack = slack
        self.holder = PolicyHolder(self.path)
        client = WebClient(token="xoxb-test", base_url=slack.url)
        self.watch = PolicyWatch(self.holder, self.world.ctx, client, interval, leading=lambda: leading)

    def events(self) -> list[AuditEvent]:
        with self.world.ctx.uow() as uow:
            return [e for e in uow.repo.events() if e.action.startswith("policies_")]

    def posts(self) -> list[str]:
        return [str(c.params["text"]) for c in self.slack.messages(AUDIT)]


@pytest.fixture
def setup(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[Setup]:
    fake_slack.clear()
    made = Setup(tmp_path, fake_slack)
    yield made
    made.watch.stop()


def test_the_watch_audits_the_start_then_swaps_in_a_good_change(setup: Setup) -> None:
    setup.watch.start()
    [loaded] = setup.events()
    assert (loaded.action, loaded.request_id, loaded.actor) == ("policies_loaded", None, "jitbot")
    assert loaded.detail == {"sha256": sha(POLICIES), "path": str(setup.path), "deny": 0, "auto": 0, "manual": 1}
    assert setup.holder.version.sha256 == sha(POLICIES)

    write(setup.path, POLICIES + DENY)
    eventually(lambda: setup.holder.version.sha256 == sha(POLICIES + DENY), what="the new version in force")

    assert [p.name for p in setup.holder().deny] == ["freeze"]
    reloaded = setup.events()[-1]
    assert reloaded.action == "policies_reloaded"
    assert reloaded.detail == {"path": str(setup.path), "old_sha256": sha(POLICIES), "sha256": sha(POLICIES + DENY),
                               "deny": 1, "auto": 0, "manual": 1}
    post = eventually(setup.posts, what="the audit channel line")
    assert post == [f":scroll: Policy file reloaded (sha256 {sha(POLICIES)[:12]}… → {sha(POLICIES + DENY)[:12]}…): "
                    "1 deny, 0 auto, 1 manual."]


def test_rewriting_identical_bytes_is_no_change(setup: Setup) -> None:
    before = setup.holder()
    write(setup.path, POLICIES)  # a new mtime, the same bytes (an editor saving without changes)
    assert setup.holder.check() is None
    assert setup.holder.check(force=True) is None
    assert setup.holder() is before
    assert setup.events() == [] and setup.posts() == []


def test_a_file_caught_empty_mid_write_is_never_swapped_in(setup: Setup) -> None:
    """An editor (or ``write_text``) truncates the file before it writes: a check in between reads nothing, which
    would parse as a file with no policies at all."""
    before = setup.holder()
    write(setup.path, "")
    rejected = setup.holder.check()
    assert isinstance(rejected, Rejected) and "empty" in rejected.errors[0]
    assert setup.holder() is before
    write(setup.path, POLICIES)  # the write completes: the same bytes as in force, nothing to swap
    assert setup.holder.check() is None and setup.holder() is before


def test_a_bad_file_keeps_the_policies_in_force_and_is_reported_once_per_version(setup: Setup) -> None:
    before = setup.holder()
    write(setup.path, SYNTAX)
    rejected = setup.holder.check()
    assert isinstance(rejected, Rejected) and rejected.sha256 == sha(SYNTAX)
    assert rejected.errors[0].startswith("TOML syntax:")
    assert setup.holder() is before and setup.holder.version.sha256 == sha(POLICIES)
    [failed] = setup.events()
    assert failed.action == "policies_reload_failed" and failed.request_id is None
    assert failed.detail["sha256"] == sha(SYNTAX) and failed.detail["in_force"] == sha(POLICIES)
    assert failed.detail["errors"] == list(rejected.errors)
    [warning] = setup.posts()
    assert warning.startswith(f":warning: Policy file change rejected (sha256 {sha(SYNTAX)[:12]}…): TOML syntax:")
    assert warning.endswith(f"The previous version ({sha(POLICIES)[:12]}…) stays in force.")

    write(setup.path, SYNTAX)  # the same bad bytes again, and asked again (SIGHUP): not reported again
    assert setup.holder.check() is None
    assert setup.holder.check(force=True) is None
    assert len(setup.events()) == 1 and len(setup.posts()) == 1

    write(setup.path, INVALID)  # another bad version: its located error is reported
    invalid = setup.holder.check()
    assert isinstance(invalid, Rejected) and invalid.sha256 == sha(INVALID)
    assert invalid.errors == ("deny[0].block: Input should be 'auto' or 'all'",)
    assert "deny[0].block: Input should be 'auto' or 'all'. The previous version" in setup.posts()[-1]

    setup.path.unlink()  # a missing file: reported once, by its reason
    missing = setup.holder.check()
    assert isinstance(missing, Rejected) and missing.sha256 is None
    assert "cannot read the file" in missing.errors[0]
    assert setup.holder.check(force=True) is None
    assert "(the file cannot be read)" in setup.posts()[-1]
    assert [e.action for e in setup.events()] == ["policies_reload_failed"] * 3
    assert setup.holder() is before

    write(setup.path, POLICIES + DENY)  # a good version recovers
    recovered = setup.holder.check()
    assert isinstance(recovered, Reloaded) and recovered.old.sha256 == sha(POLICIES)
    assert [p.name for p in setup.holder().deny] == ["freeze"]
    assert setup.events()[-1].action == "policies_reloaded"
    assert setup.posts()[-1].startswith(":scroll: Policy file reloaded")

    write(setup.path, SYNTAX)  # the first bad version again, now against the new one in force: reported
    assert isinstance(setup.holder.check(), Rejected)
    assert f"The previous version ({sha(POLICIES + DENY)[:12]}…)" in setup.posts()[-1]


def test_sighup_reloads_at_once_even_with_polling_off(tmp_path: Path, fake_slack: FakeSlack) -> None:
    fake_slack.clear()
    setup = Setup(tmp_path, fake_slack, interval=0)  # POLICY_POLL_SECONDS=0: only SIGHUP checks
    setup.watch.start()
    try:
        write(setup.path, POLICIES + DENY)
        setup.watch.request_reload()  # what the SIGHUP handler of `jitbot serve` calls
        eventually(lambda: setup.holder.version.sha256 == sha(POLICIES + DENY), what="the reload")
        assert [e.action for e in setup.events()] == ["policies_loaded", "policies_reloaded"]
    finally:
        setup.watch.stop()


def test_a_replica_that_does_not_run_the_scheduler_audits_but_does_not_post(tmp_path: Path,
                                                                             fake_slack: FakeSlack) -> None:
    fake_slack.clear()
    setup = Setup(tmp_path, fake_slack, leading=False)
    write(setup.path, POLICIES + DENY)
    assert isinstance(setup.holder.check(), Reloaded)
    write(setup.path, SYNTAX)
    assert isinstance(setup.holder.check(), Rejected)
    assert [e.action for e in setup.events()] == ["policies_reloaded", "policies_reload_failed"]
    assert setup.posts() == []


def test_a_bad_file_at_start_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    write(path, INVALID)
    with pytest.raises(ValueError, match=r"deny\[0\]\.block"):
        PolicyHolder(path)


def test_policies_check_locates_a_bad_max_nodes_and_summarises_a_good_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    fleet = ('\n[[auto_approval]]\nname = "web-fleet"\ntargets = { tags = { Role = "web" } }\n'
             'max_nodes = ')
    path = tmp_path / "policies.toml"
    path.write_text(POLICIES + fleet + "50\n", "utf-8")
    assert main(["policies", "check", str(path), "--offline"]) == 1
    _, err = capsys.readouterr()
    assert "auto_approval[0].max_nodes: 50 is not a whole number of nodes from 1 to 20" in err
    path.write_text(POLICIES + fleet + "5\n", "utf-8")
    assert main(["policies", "check", str(path), "--offline"]) == 0
    out, _ = capsys.readouterr()
    assert "auto-approval 'web-fleet': nodes tagged Role=web for everyone, up to 1h, up to 5 nodes per request" in out
