"""``/jit lockout``'s answer counts the live requests it ended in words: one request, several requests."""

from __future__ import annotations

import pytest

from core.i18n import ENGLISH, Catalogs, Tr
from core.model import Node
from handlers import parsing
from handlers.revoker_commands import lockout_command
from tests.fakes_core import POLICIES, WEB1, FakeWorld

REVOKERS = POLICIES.replace("[settings]\n", '[settings]\nrevokers = ["U0CAROL01"]\n', 1)


def _locked_out(live: int, tr: Tr = ENGLISH) -> str:
    world = FakeWorld(REVOKERS)
    for i in range(live):
        world.add(node=WEB1 if i == 0 else Node(f"i-0{i:016x}", WEB1.account, WEB1.region, name=f"other-{i}"))
    return lockout_command(world.ctx, "U0CAROL01", parsing.parse("lockout <@U0ALICE01> leaked key"), tr)


@pytest.mark.parametrize(("live", "ended"), [
    (0, "they had no live request."), (1, "1 live request ended (R00000001)."),
    (2, "2 live requests ended (R00000002, R00000001).")])  # the latest first
def test_the_requests_ended_are_counted_in_words(live: int, ended: str) -> None:
    assert _locked_out(live) == (f":no_entry: <@U0ALICE01> is locked out: {ended} Their requests are refused until "
                                 "`/jit unlock <@U0ALICE01>`.")


def test_in_japanese_the_count_is_a_counter() -> None:
    assert "進行中のリクエスト 2 件を終了しました（R00000002, R00000001）" in _locked_out(2, Catalogs().get("ja"))
