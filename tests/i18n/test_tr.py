"""Words, numbers, durations and dates in each language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.i18n import ENGLISH, TP, Catalogs, T, language_of


@pytest.fixture(scope="module")
def ja():  # type: ignore[no-untyped-def]
    return Catalogs().get("ja")


@pytest.mark.parametrize(("value", "en", "ja_text"), [
    (timedelta(hours=2, minutes=30), "2h 30m", "2時間30分"),
    (timedelta(days=1, seconds=5), "1d 5s", "1日5秒"),
    (timedelta(minutes=45), "45m", "45分"),
    (timedelta(0), "0s", "0秒"),
])
def test_durations_are_written_the_languages_way(ja, value, en, ja_text) -> None:  # type: ignore[no-untyped-def]
    assert ENGLISH.duration(value) == en
    assert ja.duration(value) == ja_text


def test_moments_are_written_in_the_policys_zone(ja) -> None:  # type: ignore[no-untyped-def]
    moment = datetime(2026, 12, 6, 13, 5, 9, tzinfo=UTC)
    assert ENGLISH.when(moment, ZoneInfo("Asia/Tokyo")) == "2026-12-06 22:05:09 JST"
    assert ja.when(moment, ZoneInfo("Asia/Tokyo")) == "2026/12/06 22:05:09 JST"
    assert ENGLISH.when(None, ZoneInfo("UTC")) == "-"


def test_values_are_put_in_the_readers_language(ja) -> None:  # type: ignore[no-untyped-def]
    message = T("{what} in {n}", what=timedelta(hours=1), n=1234)
    assert str(message) == "1h in 1,234"
    assert ja.text(message) == ja.text(message)  # an id without translation falls back to the English
    assert ENGLISH.plural("{count} session", "{count} sessions", 1) == "1 session"
    assert str(TP("{count} session", "{count} sessions", 3)) == "3 sessions"


def test_slack_locales_map_to_languages() -> None:
    assert language_of("ja-JP") == "ja"
    assert language_of("en-GB") == "en"
    assert language_of("fr-FR") is None
    assert language_of(None) is None


def test_an_unknown_language_is_english() -> None:
    assert Catalogs().get("fr") is ENGLISH
