"""core.digest on the in-memory fakes: exact figures on a seeded history, with a fake clock."""

from __future__ import annotations

from datetime import timedelta

from core.digest import Digest, Ranked, build_digest, daily_digest
from core.i18n import ENGLISH
from core.model import State
from tests.fakes_core import NOW, FakeWorld, check_seeded_digest, seed_history

ZERO = {s.value: 0 for s in State}


def seeded() -> tuple[FakeWorld, Digest]:
    world = FakeWorld(start=NOW)
    seed_history(world.ctx.uow)
    return world, daily_digest(world.ctx)


def test_digest_of_a_seeded_history_has_exact_figures() -> None:
    _, digest = seeded()
    assert digest.timezone == "Asia/Tokyo"
    check_seeded_digest(digest)


def test_the_window_moves_with_the_clock() -> None:
    world, _ = seeded()
    world.clock.advance(days=2)
    later = daily_digest(world.ctx)
    assert later.created_total == 0 and later.auto_approved == 0 and later.drift_total == 0
    assert later.ended == ZERO
    # live requests stay live: the active ones are now overdue (0 left), the pending ones older
    assert [t.span for t in later.active] == [timedelta(0), timedelta(0)]
    assert [t.span for t in later.pending] == [timedelta(hours=68), timedelta(hours=51)]
    assert [r.id for r in later.unreviewed_breakglass] == ["RB1"]  # until someone reviews it
    assert later.top_requesters[0] == Ranked("U0ALICE01", None, 4)  # RO2, six days old, left the week


def test_breakglass_leaves_the_digest_once_reviewed() -> None:
    world, _ = seeded()
    from core.context import record

    with world.ctx.uow() as uow:
        record(uow, "RB1", "U0CAROL01", "breakglass_reviewed", NOW)
        uow.commit()
    digest = daily_digest(world.ctx)
    assert digest.unreviewed_breakglass == ()
    assert digest.needs_human  # the failing revocation and the drift still do


def test_an_empty_history_needs_no_one() -> None:
    world = FakeWorld(start=NOW)
    digest = build_digest(world.reports, NOW)
    assert digest.timezone == "UTC"
    assert digest.created_total == 0 and not digest.needs_human
    assert digest.active == () and digest.pending == () and digest.top_nodes == ()


def test_scheduled_access_is_listed_soonest_first_until_it_starts() -> None:
    from core.i18n import Catalogs
    from handlers.digest_blocks import digest_blocks, plain_text
    from tests.helpers import valid_blocks

    world = FakeWorld(start=NOW)
    later = world.add(id="RS2", state=State.APPROVED, starts_at=NOW + timedelta(hours=9), duration=timedelta(hours=2))
    world.add(id="RS1", state=State.APPROVED, starts_at=NOW + timedelta(hours=2, minutes=30),
              requester="U0BOB0001")
    world.add(id="RG1", state=State.APPROVED)  # no start: being granted right now, not scheduled
    digest = build_digest(world.reports, NOW, "Asia/Tokyo")
    assert [(t.request.id, t.span) for t in digest.scheduled] == [("RS1", timedelta(hours=2, minutes=30)),
                                                                   ("RS2", timedelta(hours=9))]
    assert digest.scheduled_total == 2
    printed = plain_text(ENGLISH, digest)
    assert "Scheduled (2)\n• RS1 U0BOB0001 on web-1 · starts in 2h 30m (2025-03-10 12:00:00 JST), for 1h" in printed
    blocks = valid_blocks([b.to_dict() for b in digest_blocks(Catalogs().get("ja"), digest)])
    assert "予定" in str(blocks) and "2時間30分" in str(blocks)
    world.clock.advance(hours=10)  # both have started (and would be granted): no longer scheduled
    assert build_digest(world.reports, world.clock.now()).scheduled == ()
    assert later.starts_at is not None


# --- rendering (handlers.digest_blocks) ---------------------------------------------------------------


def test_blocks_of_the_seeded_digest_are_valid_and_complete() -> None:
    from handlers.digest_blocks import digest_blocks, digest_text, plain_text
    from tests.helpers import valid_blocks

    _, digest = seeded()
    blocks = valid_blocks([b.to_dict() for b in digest_blocks(ENGLISH, digest)])
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "jitbot daily digest · 2025-03-10",
                                                    "emoji": True}}
    text = "\n".join(str(b) for b in blocks)
    for expected in ("New requests: 9 (2 pending, 2 active, 2 expired, 1 revoked, 1 rejected, 1 failed)",
                     "Auto-approved: 2", "1 timed out", "AWS steps retried: 1 grant, 3 revocation",
                     "RJ1 <@U0ERIN001> on `web-1` by <@U0SAM0001>: use the runbook",
                     "RA2 <@U0ALICE01> on `db-1` · 30m left (until 2025-03-10 10:00:00 JST)",
                     "RP2 <@U0DAVE001> on `db-1` · waiting 20h", "1. <@U0ALICE01>: 5", "1. `web-1` (i-0aaaaaaaa): 7",
                     ":rotating_light: Needs a human", "revocation failing: RO3", "after 4 attempts",
                     "`jitbot-RZZZ1`", "break-glass not reviewed: RB1"):
        assert expected in text, expected
    assert digest_text(ENGLISH, digest) == ("jitbot daily digest · 2025-03-10: 9 new requests, 2 active, "
                                            "2 waiting · needs a human")
    printed = plain_text(ENGLISH, digest)
    assert "RJ1 U0ERIN001 on web-1 by U0SAM0001: use the runbook" in printed and "<@" not in printed


def test_blocks_stay_within_slack_limits_and_escape_what_people_wrote() -> None:
    from core.model import State
    from handlers.digest_blocks import digest_blocks
    from tests.helpers import valid_blocks

    world = FakeWorld(start=NOW)
    hostile = "<!channel> <@U0CAROL01> <http://evil.example|click> " + "x" * 3000
    for _ in range(60):
        world.grant(timedelta(hours=2))
    for _ in range(40):
        world.add(state=State.REJECTED, ended_at=NOW - timedelta(hours=1), end_reason=hostile, ended_by="U0SAM0001")
    world.clock.advance(minutes=1)
    digest = daily_digest(world.ctx)
    assert digest.active_total == 60 and len(digest.active) == 25 and digest.ended["rejected"] == 40
    blocks = valid_blocks([b.to_dict() for b in digest_blocks(ENGLISH, digest)])
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert all(len(s) <= 3000 for s in sections)
    assert "… and 30 more" in next(s for s in sections if s.startswith("*Rejected (40)*"))
    assert "<!channel>" not in str(blocks) and "&lt;!channel&gt;" in str(blocks)
    assert ":white_check_mark: Needs a human" in str(blocks)


def test_counted_lines_read_as_english_plurals_in_both_forms() -> None:
    from dataclasses import replace

    from core.i18n import Catalogs
    from handlers.digest_blocks import digest_text, plain_text

    _, digest = seeded()
    failing = digest.failing_revocations[0]
    ended = digest.active[0].request
    created = {state: 0 for state in digest.created} | {"pending": 1}
    one = replace(digest, created=created, sessions_started=1, session_grants=1, ended_grants=(ended,), active=(),
                  active_total=0, failing_revocations=(failing.with_changes(cleanup_attempts=1),),
                  session_counts={ended.id: 1})
    printed = plain_text(ENGLISH, one)
    assert "Sessions opened (1 on 1 grant)" in printed and "after 1 attempt, ended" in printed
    assert f"• {ended.id} " in printed and "): 1 session\n" in printed
    assert digest_text(ENGLISH, one).startswith("jitbot daily digest · 2025-03-10: 1 new request, 0 active, ")
    calm = replace(one, failing_revocations=(), drift_total=0, unreviewed_breakglass=())
    assert digest_text(ENGLISH, calm) == "jitbot daily digest · 2025-03-10: 1 new request, 0 active, 2 waiting"
    assert digest_text(ENGLISH, replace(calm, created=created | {"active": 2})) == \
        "jitbot daily digest · 2025-03-10: 3 new requests, 0 active, 2 waiting"
    many = replace(digest, sessions_started=5, session_grants=2, ended_grants=(ended,), session_counts={ended.id: 2})
    printed = plain_text(ENGLISH, many)
    assert "Sessions opened (5 on 2 grants)" in printed and "): 2 sessions\n" in printed
    assert "after 4 attempts, ended" in printed
    ja = plain_text(Catalogs().get("ja"), many)
    assert "開始されたセッション（付与 2 件で 5 件）" in ja and "セッション 2 件" in ja and "4 回試行" in ja
