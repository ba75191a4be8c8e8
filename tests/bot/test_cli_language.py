"""The ``jitbot`` command line in the reader's language: ``--lang`` (before or after the command), else the policy
file's ``[settings] language`` when it names en or ja, else a Japanese ``LC_ALL``/``LC_MESSAGES``/``LANG``, else
English; the lines of every command, ``policies check``'s summary and warnings, the policy reload notice in the
channel's language, and the demo's messages all in the catalog."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from slack_sdk import WebClient

from bot.cli import main
from bot.language import cli_language, environment_language, file_language
from bot.policies import PolicyHolder, PolicyWatch
from core.audit import Action
from core.context import record
from core.i18n import DOMAIN, LOCALE_DIR
from fakes.demo import with_language
from fakes.slack_api import FakeSlack
from store.engine import create_session_factory, make_engine
from store.uow import SqlUnitOfWork
from tests.bot.test_policies import AUDIT, write
from tests.fakes_core import POLICIES, FakeWorld
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]
#: a valid file naming a long list of approvers and a deny policy, no language of its own
FILE = """
[settings]
timezone = "Asia/Tokyo"
audit_channel = "C0AUDIT01"
reminder_interval = "1h30m"

[[deny]]
name = "contractors-off-pci"
targets = { tags = { DataClass = "pci" } }
requesters = ["S0CONTRACT"]

[[manual_approval]]
name = "production"
targets = { tags = { Environment = "prod" } }
max_duration = "4h"

  [[manual_approval.levels]]
  name = "SRE lead"
  channel = "C0SREAPPR"
  approvers = ["U0SAM0001", "U0TINA001", "U0CAROL01", "U0DAVE001", "U0RITA001", "U0BOB0001", "U0ALICE01"]
  required = 2
  escalate_after = "30m"
  escalate_to = ["U0CAROL01"]
"""


def _file(tmp_path: Path, language: str | None = None, text: str = FILE) -> Path:
    path = tmp_path / "policies.toml"
    path.write_text(text.replace("[settings]\n", f'[settings]\nlanguage = "{language}"\n') if language else text,
                    "utf-8")
    return path


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory of its own (no .env), no Slack or AWS configuration, an English terminal."""
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "JIT_POLICIES", "DATABASE_URL",
                 "LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    return tmp_path


# -- which language ---------------------------------------------------------------------------------------

def test_the_flag_beats_the_file_which_beats_the_environment(tmp_path: Path) -> None:
    ja, en, auto, silent = (tmp_path / f"{n}.toml" for n in ("ja", "en", "auto", "silent"))
    ja.write_text('[settings]\nlanguage = "ja"\n', "utf-8")
    en.write_text('[settings]\nlanguage = "en"\n', "utf-8")
    auto.write_text('[settings]\nlanguage = "auto"\n', "utf-8")
    silent.write_text('[settings]\ntimezone = "UTC"\n', "utf-8")
    japanese, english = {"LANG": "ja_JP.UTF-8"}, {"LANG": "en_US.UTF-8"}
    assert cli_language("en", ja, japanese) == "en"
    assert cli_language(None, ja, english) == "ja"
    assert cli_language(None, en, japanese) == "en"  # the file names English: the terminal does not matter
    assert cli_language(None, auto, japanese) == "ja"  # "auto" is each Slack user's: the terminal decides here
    assert cli_language(None, silent, japanese) == "ja"
    assert cli_language(None, silent, english) == "en"
    assert cli_language(None, tmp_path / "missing.toml", {}) == "en"
    assert file_language(tmp_path / "missing.toml") is None


def test_the_environment_is_read_the_way_gettext_reads_it() -> None:
    assert environment_language({"LC_ALL": "ja_JP.UTF-8", "LANG": "en_US.UTF-8"}) == "ja"
    assert environment_language({"LC_ALL": "en_US.UTF-8", "LANG": "ja_JP.UTF-8"}) is None  # LC_ALL wins
    assert environment_language({"LC_MESSAGES": "ja_JP.eucJP"}) == "ja"
    assert environment_language({"LANG": "ja"}) == "ja"
    assert environment_language({"LANG": "fr_FR.UTF-8"}) is None
    assert environment_language({"LANG": "C"}) is None


def test_a_broken_file_leaves_the_language_to_the_environment(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[settings\nlanguage = "ja"\n', "utf-8")
    assert cli_language(None, broken, {"LANG": "ja_JP.UTF-8"}) == "ja"
    assert cli_language(None, broken, {}) == "en"


# -- policies check ---------------------------------------------------------------------------------------

def test_policies_check_summarises_in_japanese(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(cli_env)
    assert main(["--lang", "ja", "policies", "check", str(path), "--offline"]) == 0
    out = capsys.readouterr().out
    assert f"{path}: OK" in out
    assert "設定: タイムゾーン Asia/Tokyo、監査チャンネル C0AUDIT01、ダイジェストなし、承認期限 1日、" \
           "リマインダー 1時間30分ごと、期限切れ予告 10分前、件数制限なし" in out
    assert "拒否 'contractors-off-pci': S0CONTRACT の" in out
    assert "手動承認 'production': 全員 の" in out and "最長 4時間（既定 1時間）" in out
    assert ("    レベル 1 'SRE lead': C0SREAPPR で U0SAM0001, U0TINA001, U0CAROL01, U0DAVE001, U0RITA001, U0BOB0001, "
            "U0ALICE01 のうち 2 人。30分後にスレッドで U0CAROL01 にもエスカレーション\n") in out
    assert ("警告: 権限を持つユーザーグループ（--strict では数えません）\n"
            "  ユーザーグループ S0CONTRACT（deny[0].requesters）") in out
    assert "注: Slack には問い合わせていません（--offline）" in out
    assert "settings:" not in out and "warnings" not in out and "note:" not in out


def test_the_lang_option_is_taken_after_the_command_too(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(cli_env)
    assert main(["policies", "check", str(path), "--offline", "--lang", "ja"]) == 0
    assert "設定: タイムゾーン" in capsys.readouterr().out
    assert main(["policies", "--lang", "ja", "check", str(path), "--offline"]) == 0
    assert "設定: タイムゾーン" in capsys.readouterr().out


def test_the_policy_file_language_and_the_environment(cli_env: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["policies", "check", str(_file(cli_env, "ja")), "--offline"]) == 0
    assert "設定: タイムゾーン" in capsys.readouterr().out

    assert main(["policies", "check", str(_file(cli_env)), "--offline"]) == 0
    assert "settings: timezone Asia/Tokyo, audit channel C0AUDIT01, digest off, approval timeout 1d, reminders " \
           "every 1h 30m, expiry warning 10m, no limit" in capsys.readouterr().out

    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert main(["policies", "check", str(_file(cli_env)), "--offline"]) == 0
    assert "設定: タイムゾーン" in capsys.readouterr().out
    assert main(["policies", "check", str(_file(cli_env, "en")), "--offline"]) == 0
    assert "settings: timezone" in capsys.readouterr().out
    assert main(["--lang", "en", "policies", "check", str(_file(cli_env, "ja")), "--offline"]) == 0
    assert "settings: timezone" in capsys.readouterr().out


def test_a_broken_file_is_counted_in_japanese_and_located_as_written(cli_env: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(cli_env, "ja", FILE.replace('max_duration = "4h"', 'max_duration = "4 hours"'))
    assert main(["policies", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: エラー 1 件\n  manual_approval[0].max_duration: ")
    assert "'4 hours' is not a duration" in err  # the located error quotes the file: English this round
    assert main(["--lang", "en", "policies", "check", str(path)]) == 1
    assert capsys.readouterr().err.startswith(f"{path}: 1 error\n  manual_approval[0].max_duration: ")
    two = _file(cli_env, "en", FILE.replace('max_duration = "4h"', 'max_duration = "4 hours"').replace(
        'timezone = "Asia/Tokyo"', 'timezone = "Mars/Olympus"'))
    assert main(["policies", "check", str(two)]) == 1
    assert capsys.readouterr().err.startswith(f"{two}: 2 errors\n  ")


def test_explain_refuses_in_japanese(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(cli_env)
    assert main(["policies", "explain", "--lang", "ja", "--user", "U0ALICE01", "--policies", str(path),
                 "--offline"]) == 1
    assert capsys.readouterr().err.strip() == ("どのノードですか？ --node <ID または Name> を指定するか、"
                                               "仮のノードなら --tags k=v,… を指定してください。")
    assert main(["policies", "explain", "--lang", "ja", "--user", "U0ALICE01", "--policies", str(path),
                 "--tags", "Environment"]) == 1
    assert capsys.readouterr().err.strip() == "'Environment' は key=value の形ではありません"


# -- the other commands -----------------------------------------------------------------------------------

def test_serve_db_digest_and_export_speak_japanese(cli_env: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIT_POLICIES", str(_file(cli_env, "ja")))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{cli_env / 'jitbot.db'}")
    # serve configures the process's logging: run as the command people type
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve"], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("jitbot serve を起動できません: SLACK_BOT_TOKEN が設定されていないか、空です; "
                                  "SLACK_SIGNING_SECRET が設定されていないか、空です。")

    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"データベースは最新です: sqlite:///{cli_env / 'jitbot.db'}\n"

    assert main(["digest", "--post"]) == 2
    assert capsys.readouterr().err == ("jitbot digest --post には SLACK_BOT_TOKEN と [settings] audit_channel が"
                                       "必要です\n")

    archive = cli_env / "audit.jsonl"
    assert main(["audit", "export", "--output", str(archive)]) == 0
    assert capsys.readouterr().err == f"監査イベント 0 件を {archive} に書き出しました\n"
    assert main(["--lang", "en", "audit", "export", "--output", str(archive)]) == 0
    assert capsys.readouterr().err == f"exported 0 audit events to {archive}\n"
    assert main(["--lang", "en", "audit", "export"]) == 0
    assert capsys.readouterr().err == "exported 0 audit events\n"
    engine = make_engine(f"sqlite:///{cli_env / 'jitbot.db'}")
    try:
        with SqlUnitOfWork(create_session_factory(engine)) as uow:
            record(uow, None, "U0ALICE01", Action.LOCKOUT, datetime.now(UTC))
            uow.commit()
    finally:
        engine.dispose()
    assert main(["--lang", "en", "audit", "export", "--output", str(archive)]) == 0
    assert capsys.readouterr().err == f"exported 1 audit event to {archive}\n"
    assert main(["--lang", "en", "audit", "export"]) == 0
    assert capsys.readouterr().err == "exported 1 audit event\n"


# -- the policy reload notice: the language of channel messages of the version now in force --------------------

@pytest.fixture
def watch(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[tuple[PolicyWatch, Path, FakeSlack]]:
    fake_slack.clear()
    path = tmp_path / "policies.toml"
    write(path, POLICIES)
    holder = PolicyHolder(path)
    ctx = dataclasses.replace(FakeWorld().ctx, policies=holder)  # as bot/root.py wires it: the file in force
    made = PolicyWatch(holder, ctx, WebClient(token="xoxb-test", base_url=fake_slack.url), 0.05)
    made.start()
    yield made, path, fake_slack
    made.stop()


def test_the_reload_notice_is_in_the_channel_language_of_the_new_version(
        watch: tuple[PolicyWatch, Path, FakeSlack]) -> None:
    _, path, slack = watch
    japanese = POLICIES.replace("[settings]\n", '[settings]\nchannel_language = "ja"\n')
    write(path, japanese)
    [post] = eventually(lambda: [str(c.params["text"]) for c in slack.messages(AUDIT)], what="the notice")
    assert post.startswith(":scroll: ポリシーファイルを再読み込みしました（sha256 ")
    assert post.endswith("）: 拒否 0、自動 0、手動 1。")

    write(path, japanese + "\n[[deny]\nname = 'oops'\n")
    [rejected] = eventually(lambda: [str(c.params["text"]) for c in slack.messages(AUDIT)][1:], what="the rejection")
    assert rejected.startswith(":warning: ポリシーファイルの変更を受け付けませんでした（sha256 ")
    assert "TOML syntax" in rejected and "。以前の版（" in rejected and rejected.endswith("…）が引き続き有効です。")


# -- the demo ---------------------------------------------------------------------------------------------

def test_the_demo_sets_the_language_of_its_policy_file() -> None:
    own = '[settings] # ours\nlanguage = "auto"\ntimezone = "UTC"\nchannel_language = "en"\n\n[[deny]]\nname = "x"\n'
    assert with_language(own, "ja") == ('[settings] # ours\nlanguage = "ja"\nchannel_language = "ja"\n'
                                        'timezone = "UTC"\n\n[[deny]]\nname = "x"\n')
    assert with_language('[[deny]]\nname = "x"\n', "ja").endswith('\n\n[settings]\nlanguage = "ja"\n'
                                                                   'channel_language = "ja"\n')


def test_every_message_of_the_demo_has_a_japanese_translation() -> None:
    """The repository's completeness test reads the production packages; the demo's narration is read too."""
    with (LOCALE_DIR / "ja" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale="ja")
    keywords = {"tr": None, "plural": (1, 2), "T": None, "TP": (1, 2), "N_": None}
    found = [m if isinstance(m, str) else m[0]
             for _, m, _, _ in extract_from_file("python", ROOT / "fakes" / "demo.py", keywords=keywords)]
    assert len(found) > 20
    missing = [m for m in found if (entry := catalog.get(m)) is None or not entry.string]
    assert not missing, missing
    assert "[python: fakes/demo.py]" in (ROOT / "babel.cfg").read_text("utf-8")  # extracted, so never dropped
