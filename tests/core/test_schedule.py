"""Reading a start (core.schedule): in the policy file's timezone; a time already passed today means tomorrow."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import InvalidInput
from core.schedule import parse_start

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)  # 20:00 in Paris


def test_a_time_of_day_later_today_in_the_policy_timezone() -> None:
    assert parse_start("22:00", NOW, PARIS) == datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


def test_a_time_already_passed_today_means_tomorrow() -> None:
    assert parse_start("19:30", NOW, PARIS) == datetime(2026, 12, 7, 18, 30, tzinfo=UTC)
    assert parse_start("20:00", NOW, PARIS) == datetime(2026, 12, 7, 19, 0, tzinfo=UTC)  # now is not ahead


def test_a_date_and_a_time() -> None:
    assert parse_start("2026-12-07 09:30", NOW, PARIS) == datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    assert parse_start("2026-07-07 09:30", NOW, PARIS) == datetime(2026, 7, 7, 7, 30, tzinfo=UTC)  # summer time


@pytest.mark.parametrize(("text", "message"), [
    ("25:00", "'25:00' is not a time of day"),
    ("2026-13-01 09:30", "'2026-13-01' is not a date"),
    ("tomorrow", "'tomorrow' is not a time of day"),
    ("2026-12-07 9h", "'9h' is not a time of day"),
])
def test_bad_starts_say_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_start(text, NOW, PARIS)
    assert str(info.value).startswith(message) and info.value.field == "start"
