"""``jitbot demo``: the transcript it prints, run as the command people type (a process of its own: the demo starts
its own moto, whose backends are process-wide and would otherwise share this test process's nodes), and the policy
file its IAM Identity Center and on-call chapters run with, through ``jitbot policies check`` against moto's identity
store and a fake PagerDuty."""

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
from fakes.demo import with_identity_center, with_on_call
from fakes.pagerduty import TOKEN, FakePagerDuty
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
                         r"1 session terminated\.", at)
    at, _ = _find(lines, rf"Identity Center: no permission set jitbot-{rid}, so no assignment and no role", at)
    at, _ = _find(lines, r"active SSM sessions on data-1: 0", at)
    at = _the_on_call_chapter(lines, at)
    _find(lines, r"^demo complete: .* granted through IAM Identity Center.* granted at once to the person PagerDuty "
                 r"has on call, and released\.$", at)


def _the_on_call_chapter(lines: list[str], at: int) -> int:
    """Erin, off call, asks for the ops node: the on-call auto-approval is not for her, the repository's
    'everything-else' asks an SRE lead, and she cancels; the schedule rotates to her: granted at once, then released."""
    schedule, node = cast.ONCALL_SCHEDULE, cast.ONCALL_NODE.name
    at, _ = _find(lines, rf"the policy file gains the auto-approval 'on-call-ops' \(Environment=ops\): requesters "
                         rf"pagerduty:{schedule}", at)
    at, _ = _find(lines, rf"the fake PagerDuty REST API on 127\.0\.0\.1 says Tina is on call for {schedule}\)$", at)
    ask = rf"Erin › /jit request {node} 30m restart the stuck queue consumer$"
    at, _ = _find(lines, ask, at)
    at, waiting = _find(lines, rf"→ #sre-approvals: Access request ({ID}): @Erin asks for {INSTANCE} for 30m "
                               r"\(level 1/1\) \[Approve\] \[Reject\]$", at)
    at, _ = _find(lines, rf"only you can see this\) Request \*{waiting[1]}\* for `{INSTANCE}` \({node}\) \(30m\) "
                         r"submitted under policy 'everything-else'", at)
    at, _ = _find(lines, r"Erin is not on call, so 'on-call-ops' does not let her in at once: the policy "
                         r"'everything-else' decides, and it waits for an approver", at)
    at, _ = _find(lines, rf"Erin › /jit cancel {waiting[1]}$", at)
    at, _ = _find(lines, r"↻ #sre-approvals: approval message buttons removed$", at)
    at, _ = _find(lines, rf"the schedule {schedule} rotates: PagerDuty now says Erin is on call\)$", at)
    asked, _ = _find(lines, ask, at)
    at, granted = _find(lines, rf"only you can see this\) :unlock: \*({ID})\*: access to `{INSTANCE}` \({node}\) "
                               r"granted until .* \(policy 'on-call-ops'\)", asked)
    rid = granted[1]
    assert rid != waiting[1]
    assert not [line for line in lines[asked:at] if "clicks Approve" in line]  # at once: nobody approved it
    at, _ = _find(lines, rf"IAM: user/erin has policy jitbot-{rid}: ssm:StartSession on arn:aws:ec2:us-east-1:"
                         rf"{cast.ACCOUNT}:instance/{INSTANCE} while", at)
    at, _ = _find(lines, rf"Erin › /jit release {rid}$", at)
    at, _ = _find(lines, rf"DM to Erin: :lock: Your access \*{rid}\* to `{INSTANCE}` \({node}\) was released by the "
                         r"requester\.", at)
    at, _ = _find(lines, rf"IAM: user/erin has no policy jitbot-{rid}\)$", at)
    return at


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
    # the on-call chapter: off call, Erin's request waits for an approver; on call, it is granted at once
    at, _ = _find(lines, rf"ポリシーファイルに自動承認ポリシー 'on-call-ops'（Environment=ops）を追加: 申請者 "
                         rf"pagerduty:{cast.ONCALL_SCHEDULE}", at)
    at, _ = _find(lines, rf"{cast.ONCALL_SCHEDULE} の当番は Tina です\)$", at)
    at, _ = _find(lines, r"Erin › /jit request ops-1 30m 止まったキューのコンシューマーを再起動$", at)
    at, _ = _find(lines, r"Erin は当番ではないため 'on-call-ops' では即時に許可されません: "
                         r"ポリシー 'everything-else' が決定", at)
    at, _ = _find(lines, rf"Erin › /jit cancel {ID}$", at)
    at, _ = _find(lines, rf"スケジュール {cast.ONCALL_SCHEDULE} が交代: PagerDuty によると、いまの当番は Erin です", at)
    at, granted = _find(lines, rf"（あなただけに表示）:unlock: \*({ID})\*: `{INSTANCE}` \(ops-1\) へのアクセスを "
                               r".* まで付与しました（ポリシー 'on-call-ops'）", at)
    at, _ = _find(lines, rf"IAM: user/erin にポリシー jitbot-{granted[1]} があります", at)
    at, _ = _find(lines, rf"Erin › /jit release {granted[1]}$", at)
    at, _ = _find(lines, rf"IAM: user/erin にポリシー jitbot-{granted[1]} はありません", at)
    _find(lines, r"^デモ完了: 申請、2 段階の承認.*最後に PagerDuty の当番の人に即時に付与し、解放しました。$", at)
    english = ("clicks Approve", "waiting for the", "active SSM sessions", "opens SSM session", "demo complete",
               "is on call", "not on call", "rotates")
    assert not [line for line in lines if any(words in line for words in english)]


def test_the_demo_policy_file_passes_policies_check(tmp_path: Path, fake_aws: tuple[FakeAws, dict[str, str]],
                                                    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The repository's policies.toml with the demo's [identity_center] and idc-group policy, and its on-call
    auto-approval, is valid, its groups found in the identity store and its schedule in PagerDuty; a group the store
    lacks, or a schedule PagerDuty lacks, is a located error (so they really were looked up)."""
    aws, _ = fake_aws
    seed = seed_identity_center(aws, "d-" + secrets.token_hex(5))  # a store of its own in the shared moto
    with_idc = with_identity_center(REPO_POLICIES.read_text("utf-8"), seed, aws.region)
    assert with_idc is not None
    text = with_on_call(with_idc)
    pagerduty = FakePagerDuty({cast.ONCALL_SCHEDULE: ["tina@example.com"]}).start()
    request.addfinalizer(pagerduty.stop)
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PAGERDUTY_TOKEN", TOKEN)
    monkeypatch.setenv("PAGERDUTY_API_URL", pagerduty.url)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    path = tmp_path / "policies.toml"
    path.write_text(text, "utf-8")
    assert main(["policies", "check", str(path)]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "manual approval 'data-platform': nodes tagged Environment=analytics for idc-group:data-engineers" in out
    assert "IAM Identity Center" not in out  # no warning or error about the groups
    assert (f"auto-approval 'on-call-ops': nodes tagged Environment=ops for pagerduty:{cast.ONCALL_SCHEDULE}, "
            "up to 1h") in out
    assert "PagerDuty" not in out  # nor about the schedule
    assert pagerduty.calls > 0

    path.write_text(text.replace('"idc-group:data-leads"', '"idc-group:data-leadz"'), "utf-8")
    assert main(["policies", "check", str(path)]) == 1
    assert (f"manual_approval[2].levels[0].approvers[0]: 'idc-group:data-leadz': identity store "
            f"{seed.identity_store_id} has no group with this GroupId or DisplayName") in capsys.readouterr().err

    pagerduty.schedules = {"POPS002": ["tina@example.com"]}
    path.write_text(text, "utf-8")
    assert main(["policies", "check", str(path)]) == 1
    assert (f"auto_approval[1].requesters[0]: 'pagerduty:{cast.ONCALL_SCHEDULE}': PagerDuty has no schedule "
            f"{cast.ONCALL_SCHEDULE} (or the token cannot see it)") in capsys.readouterr().err


def test_the_demo_leaves_a_policy_file_with_its_own_identity_center_alone() -> None:
    seed = IdentityCenterSeed("arn:aws:sso:::instance/ssoins-0123456789abcdef", "d-0123456789", {}, {})
    own = REPO_POLICIES.read_text("utf-8").replace("# [identity_center]", "[identity_center]")
    assert with_identity_center(own, seed, "us-east-1") is None
