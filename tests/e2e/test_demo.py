"""``jitbot demo``: the transcript it prints, run as the command people type (a process of its own: the demo starts
its own moto, whose backends are process-wide and would otherwise share this test process's nodes), and the policy
file its IAM Identity Center chapter runs with, through ``jitbot policies check`` against moto's identity store."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from fakes import cast
from fakes.aws import FakeAws
from fakes.demo import with_identity_center
from fakes.stack import REPO_POLICIES, IdentityCenterSeed, seed_identity_center

ID = r"R[0-9A-Z]{8}"
INSTANCE = r"i-[0-9a-f]{17}"
USER_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def _demo(tmp_path: Path, *flags: str) -> list[str]:
    """``jitbot demo --window 2`` in an empty directory (so it runs the repository's policies.toml), on an English
    terminal (the demo speaks the terminal's language unless told)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("JIT_POLICIES", "LC_ALL", "LC_MESSAGES") and not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())", "demo",
                           "--window", "2", *flags], cwd=tmp_path, env={**env, "LANG": "C.UTF-8"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def _find(lines: list[str], pattern: str, after: int = 0) -> tuple[int, re.Match[str]]:
    """The first line from ``after`` on that matches ``pattern`` (searched anywhere in the line)."""
    for index in range(after, len(lines)):
        found = re.search(pattern, lines[index])
        if found:
            return index, found
    raise AssertionError(f"no line matching {pattern!r} after line {after}:\n" + "\n".join(lines[after:]))


def test_the_demo_grants_through_iam_then_through_identity_center(tmp_path: Path) -> None:
    lines = _demo(tmp_path)
    # the IAM chapter: Alice's grant is an inline policy on her role, gone at expiry with her session
    at, grant = _find(lines, rf"IAM: role/alice has policy jitbot-({ID}): ssm:StartSession on arn:aws:ec2:us-east-1:"
                             rf"{cast.ACCOUNT}:instance/{INSTANCE} while aws:CurrentTime < {STAMP}")
    at, _ = _find(lines, rf"IAM: role/alice has no policy jitbot-{grant[1]}", at)
    at, _ = _find(lines, r"active SSM sessions on web-1: 0", at)

    # the Identity Center chapter: what the policy file gains, printed first
    at, _ = _find(lines, r"the policy file gains \[identity_center\] for moto's instance ssoins-\w{16} "
                         rf"\(identity store {cast.IDC_STORE}\)", at)
    at, _ = _find(lines, r"policy 'data-platform' \(Environment=analytics\): requesters idc-group:data-engineers, "
                         r"approvers idc-group:data-leads", at)
    at, _ = _find(lines, r"Nora › /jit request data-1 2s", at)
    at, submitted = _find(lines, rf"only you can see this\) Request \*({ID})\* for `({INSTANCE})` \(data-1\) \(2s\) "
                                 r"submitted under policy 'data-platform'", at)
    rid, node = submitted[1], submitted[2]
    # Nora has no [identities] entry: jitbot found her by her confirmed Slack email
    at, matched = _find(lines, r"Nora has no \[identities\] entry: jitbot found her confirmed Slack email "
                               rf"nora@example.com in the identity store, and her grants go to "
                               rf"arn:aws:identitystore:::user/({USER_ID})", at)
    user_id = matched[1]
    # Carol approves as a member of idc-group:data-leads (Carol is not in that level by her Slack id)
    at, _ = _find(lines, rf"Carol › clicks Approve on {rid} in #data-approvals", at)
    at, dm = _find(lines, rf"DM to Nora: :unlock: Access granted: \*{rid}\* on `{node}`", at)
    assert f"https://{cast.IDC_STORE}.awsapps.com/start/#/console?account_id={cast.ACCOUNT}" in dm.string
    assert f"aws sso login --profile jit-{rid}" in dm.string
    # what AWS holds: the permission set, its expiring statement, the assignment to Nora's Identity Store user
    at, _ = _find(lines, rf"Identity Center: permission set jitbot-{rid} \(instance/ssoins-\w{{16}}/ps-\w+\)", at)
    at, _ = _find(lines, rf"inline policy: ssm:StartSession on arn:aws:ec2:us-east-1:{cast.ACCOUNT}:instance/{node} "
                         rf"while aws:CurrentTime < {STAMP}", at)
    at, _ = _find(lines, rf"assigned to Identity Store user {user_id} in account {cast.ACCOUNT}", at)
    at, _ = _find(lines, rf"Nora signs in to the role AWSReservedSSO_jitbot-{rid}_… and opens SSM session", at)
    # expiry removes it all and ends her session
    at, _ = _find(lines, rf"DM to Nora: :lock: Your access \*{rid}\* to `{node}` \(data-1\) expired\. "
                         r"1 session\(s\) terminated\.", at)
    at, _ = _find(lines, rf"Identity Center: no permission set jitbot-{rid}, so no assignment and no role", at)
    at, _ = _find(lines, r"active SSM sessions on data-1: 0", at)
    _find(lines, r"^demo complete: .* granted through IAM Identity Center", at)


def test_the_demo_in_japanese_narrates_in_japanese_and_completes(tmp_path: Path) -> None:
    """``jitbot demo --lang ja``: the narration is Japanese, the people type their reasons in Japanese, and the
    story (IAM, then IAM Identity Center) runs to its end; the demo's policy file says ``language = "ja"``, so what
    jitbot says to them is Japanese wherever its messages are in the catalogs."""
    lines = _demo(tmp_path, "--lang", "ja")
    assert lines[0] == "jitbot デモ: 127.0.0.1 上の偽 Slack と moto、一時ディレクトリの SQLite"
    at, _ = _find(lines, r"Alice › /jit request web-1 2s /var のディスクが満杯$")
    at, approved = _find(lines, rf"Sam › #sre-approvals で ({ID}) の［承認］をクリック$", at)
    rid = approved[1]
    at, _ = _find(lines, rf"Carol › #manager-approvals で {rid} の［承認］をクリック$", at)
    at, _ = _find(lines, rf"IAM: role/alice にポリシー jitbot-{rid} があります: arn:aws:ec2:us-east-1:{cast.ACCOUNT}:"
                         rf"instance/{INSTANCE} に対する ssm:StartSession（aws:CurrentTime < {STAMP} の間）", at)
    at, _ = _find(lines, r"Alice が web-1 で SSM セッション \S+ を開始", at)
    at, _ = _find(lines, r"2秒のアクセス時間が終わるのを待っています…", at)
    at, _ = _find(lines, r"jitbot → Alice への DM: ", at)
    at, _ = _find(lines, rf"IAM: role/alice にポリシー jitbot-{rid} はありません", at)
    at, _ = _find(lines, r"web-1 の有効な SSM セッション: 0", at)
    at, _ = _find(lines, r"Bob › /jit request dev-1 30m マイグレーションを実行$", at)
    at, _ = _find(lines, r"IAM Identity Center: ポリシーファイルに moto のインスタンス ssoins-\w{16}", at)
    at, _ = _find(lines, r"Nora › /jit request data-1 2s 夜間抽出を再作成$", at)
    at, _ = _find(lines, r"Identity Center: 権限セット jitbot-R\w+（instance/ssoins-\w{16}/ps-\w+）", at)
    at, _ = _find(lines, r"Identity Center: 権限セット jitbot-R\w+ はありません。割り当てもロールもありません", at)
    at, _ = _find(lines, r"data-1 の有効な SSM セッション: 0", at)
    _find(lines, r"^デモ完了: 申請、2 段階の承認", at)
    english = ("clicks Approve", "waiting for the", "active SSM sessions", "opens SSM session", "demo complete")
    assert not [line for line in lines if any(words in line for words in english)]


def test_the_demo_policy_file_passes_policies_check(tmp_path: Path, fake_aws: tuple[FakeAws, dict[str, str]],
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The repository's policies.toml with the demo's [identity_center] and idc-group policy is valid, its groups
    found in the identity store; a group the store lacks is a located error (so the groups really were looked up)."""
    aws, _ = fake_aws
    seed = seed_identity_center(aws, "d-" + secrets.token_hex(5))  # a store of its own in the shared moto
    text = with_identity_center(REPO_POLICIES.read_text("utf-8"), seed, aws.region)
    assert text is not None
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    path = tmp_path / "policies.toml"
    path.write_text(text, "utf-8")
    assert main(["policies", "check", str(path)]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "manual approval 'data-platform': nodes tagged Environment=analytics for idc-group:data-engineers" in out
    assert "IAM Identity Center" not in out  # no warning or error about the groups

    path.write_text(text.replace('"idc-group:data-leads"', '"idc-group:data-leadz"'), "utf-8")
    assert main(["policies", "check", str(path)]) == 1
    assert (f"manual_approval[2].levels[0].approvers[0]: 'idc-group:data-leadz': identity store "
            f"{seed.identity_store_id} has no group with this GroupId or DisplayName") in capsys.readouterr().err


def test_the_demo_leaves_a_policy_file_with_its_own_identity_center_alone() -> None:
    seed = IdentityCenterSeed("arn:aws:sso:::instance/ssoins-0123456789abcdef", "d-0123456789", {}, {})
    own = REPO_POLICIES.read_text("utf-8").replace("# [identity_center]", "[identity_center]")
    assert with_identity_center(own, seed, "us-east-1") is None
