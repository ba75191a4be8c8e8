"""core.durations: the forms people write, the bounds, the messages, and the compact rendering."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.durations import (
    MAX_DURATION,
    MIN_DURATION,
    DurationError,
    format_duration,
    looks_like_duration,
    parse_duration,
)
from core.i18n import ENGLISH, Catalogs, Tr

HINT = "(use e.g. 90s, 15m, 4h, 1d, 1h30m or PT4H)"



@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("1s", timedelta(seconds=1)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("2d12h", timedelta(days=2, hours=12)),
        ("90m", timedelta(minutes=90)),
        ("720h", timedelta(days=30)),
        ("PT4H", timedelta(hours=4)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT90S", timedelta(seconds=90)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P1D", timedelta(days=1)),
        ("P30D", timedelta(days=30)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        # case and surrounding whitespace do not matter
        ("4H", timedelta(hours=4)),
        ("1H30M", timedelta(hours=1, minutes=30)),
        ("pt4h", timedelta(hours=4)),
        ("p1dt2h", timedelta(days=1, hours=2)),
        ("  4h  ", timedelta(hours=4)),
        ("\t15m\n", timedelta(minutes=15)),
        # leading zeros are just digits
        ("004h", timedelta(hours=4)),
    ],
)
def test_accepted_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert looks_like_duration(text)


def test_bounds_constants() -> None:
    assert timedelta(seconds=1) == MIN_DURATION
    assert timedelta(days=30) == MAX_DURATION


@pytest.mark.parametrize("text", ["30d", "720h", "43200m", "2592000s", "P30D", "PT720H", "29d23h59m60s"])
def test_thirty_days_is_accepted(text: str) -> None:
    assert parse_duration(text) == timedelta(days=30)


@pytest.mark.parametrize("text", ["31d", "30d1s", "721h", "2592001s", "P31D", "P30DT1S", "999999d"])
def test_longer_than_thirty_days_is_refused(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == f"'{text}' is longer than the maximum of 30d"


def test_a_million_days_is_refused_as_too_long() -> None:
    with pytest.raises(DurationError, match=r"^'1000000d' is longer than the maximum of 30d$"):
        parse_duration("1000000d")


@pytest.mark.parametrize("text", ["0s", "0m", "0h", "0d", "0h0m0s", "PT0S", "P0D", "00s"])
def test_zero_is_refused(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == f"'{text}' is shorter than the minimum of 1s"
    assert not looks_like_duration(text)


def test_zero_is_refused_even_with_allow_zero_unless_written_0() -> None:
    with pytest.raises(DurationError, match="shorter than the minimum of 1s"):
        parse_duration("0s", allow_zero=True)


@pytest.mark.parametrize("text", ["0", " 0 ", "0\n"])
def test_allow_zero_accepts_a_bare_0(text: str) -> None:
    assert parse_duration(text, allow_zero=True) == timedelta(0)


def test_bare_0_without_allow_zero_is_not_a_duration() -> None:
    with pytest.raises(DurationError) as info:
        parse_duration("0")
    assert str(info.value) == f"'0' is not a duration {HINT}"


def test_allow_zero_still_parses_ordinary_durations() -> None:
    assert parse_duration("10m", allow_zero=True) == timedelta(minutes=10)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "h",
        "4",
        "42",
        "4x",
        "4 h",
        "1.5h",
        "-1h",
        "+1h",
        "1h-30m",
        "1m1h",  # units out of order
        "30m1h",
        "1h1h",
        "1w",
        "1y",
        "4hours",
        "four hours",
        "1h 30m",
        "P",
        "PT",
        "P1DT",
        "PT4",
        "P4H",  # hours without T
        "PT1D",  # days after T
        "P1W",
        "PT4Hx",
        "4hPT",
        "P-1D",
        "PT1.5H",
        "web-1",
        "disk full",
    ],
)
def test_malformed_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == f"'{text.strip()}' is not a duration {HINT}"
    assert not looks_like_duration(text)


def test_over_long_text_is_cut_in_the_message() -> None:
    text = "1" * 40 + "h"
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == f"'{'1' * 32}…' is not a duration {HINT}"


def test_thirty_two_characters_are_still_parsed() -> None:
    text = "0" * 30 + "1h"
    assert len(text) == 32
    assert parse_duration(text) == timedelta(hours=1)


def test_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    "text", ["30000000000h", "99999999999999999999h", "999999999999999s", "PT99999999999999999999H"]
)
def test_huge_numbers_are_refused_as_too_long(text: str) -> None:
    with pytest.raises(DurationError, match="longer than the maximum"):
        parse_duration(text)


def test_looks_like_duration_on_a_huge_number() -> None:
    assert looks_like_duration("99999999999999999999h") is False


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(minutes=15), "15m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(hours=4), "4h"),
        (timedelta(days=1), "1d"),
        (timedelta(days=2), "2d"),
        (timedelta(days=1, hours=2), "1d2h"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(days=30), "30d"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "1d2h3m4s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=-5), "0s"),
        (timedelta(milliseconds=500), "0s"),
        (timedelta(seconds=1, milliseconds=999), "1s"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@pytest.mark.parametrize("text", ["90s", "15m", "4h", "1d", "1h30m", "PT4H", "P1DT2H", "PT90S", "30d"])
def test_format_then_parse_round_trips_the_accepted_forms(text: str) -> None:
    value = parse_duration(text)
    assert parse_duration(format_duration(value)) == value


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
@example("99")
@example("P")
@example("PT")
@example("0")
@example("\x00")
@example("٤h")
def test_parse_duration_only_ever_raises_duration_error(text: str) -> None:
    for allow_zero in (False, True):
        try:
            value = parse_duration(text, allow_zero=allow_zero)
        except DurationError:
            continue
        else:
            assert value == timedelta(0) or MIN_DURATION <= value <= MAX_DURATION
            if value == timedelta(0):
                assert allow_zero


_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


# Numbers of up to 10 digits: larger ones hit the OverflowError bug above.
@settings(max_examples=200, deadline=None)
@given(st.tuples(*[st.none() | st.integers(min_value=0, max_value=9_999_999_999)] * 4))
def test_parse_duration_on_compact_shapes(parts: tuple[int | None, ...]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in zip(parts, "dhms", strict=True) if n is not None)
    total = sum(n * _UNIT_SECONDS[unit] for n, unit in zip(parts, "dhms", strict=True) if n is not None)
    if text and len(text) <= 32 and 1 <= total <= 30 * 86400:
        assert parse_duration(text) == timedelta(seconds=total)
        assert parse_duration(text.upper()) == timedelta(seconds=total)
    else:
        with pytest.raises(DurationError):
            parse_duration(text)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=30 * 86400))
@example(1)
@example(59)
@example(60)
@example(3599)
@example(86400)
@example(30 * 86400)
def test_format_then_parse_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    text = format_duration(value)
    assert re.fullmatch(r"(\d+d)?(\d+h)?(\d+m)?(\d+s)?", text)
    assert parse_duration(text) == value
    assert parse_duration(text.upper()) == value


# --- Japanese, and full-width characters -----------------------------------------------------------


@pytest.fixture(scope="module")
def ja() -> Tr:
    return Catalogs().get("ja")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2時間", timedelta(hours=2)),
        ("30分", timedelta(minutes=30)),
        ("1日", timedelta(days=1)),
        ("90秒", timedelta(seconds=90)),
        ("2時間30分", timedelta(hours=2, minutes=30)),
        ("1日2時間3分4秒", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("3日間", timedelta(days=3)),
        ("45分間", timedelta(minutes=45)),
        ("10秒間", timedelta(seconds=10)),
        ("1時間半", timedelta(hours=1, minutes=30)),
        ("1日12時間", timedelta(days=1, hours=12)),
        ("30日", timedelta(days=30)),
        # full-width digits and letters are read as the ASCII they stand for
        ("２時間", timedelta(hours=2)),
        ("２時間３０分", timedelta(hours=2, minutes=30)),
        ("１ｈ３０ｍ", timedelta(hours=1, minutes=30)),
        ("ＰＴ４Ｈ", timedelta(hours=4)),
        ("\u30002時間\u3000", timedelta(hours=2)),
    ],
)
def test_japanese_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert looks_like_duration(text)


@pytest.mark.parametrize(
    "text",
    ["時間", "分", "2 時間", "30分2時間", "2時間半30分", "半", "1.5時間", "2じかん", "二時間", "2時", "2時間半半",
     "٤時間", "2時間h", "2h30分", "1週間"],
)
def test_malformed_japanese_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == f"'{text}' is not a duration {HINT}"
    assert not looks_like_duration(text)


def test_bounds_hold_in_japanese_and_full_width() -> None:
    with pytest.raises(DurationError, match=r"^'31日' is longer than the maximum of 30d$"):
        parse_duration("31日")
    with pytest.raises(DurationError, match=r"^'０秒' is shorter than the minimum of 1s$"):
        parse_duration("０秒")
    assert parse_duration("０", allow_zero=True) == timedelta(0)


def test_messages_are_catalog_messages_in_the_readers_language(ja: Tr) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration("5x")
    assert info.value.say(ENGLISH) == str(info.value) == f"'5x' is not a duration {HINT}"
    assert info.value.say(ja).startswith("'5x' は期間として読み取れません")
    assert "2時間" in info.value.say(ja)
    with pytest.raises(DurationError) as info:
        parse_duration("31d")
    assert info.value.say(ja) == "'31d' は上限の 30日 を超えています"
    with pytest.raises(DurationError) as info:
        parse_duration("0s")
    assert info.value.say(ja) == "'0s' は下限の 1秒 より短いです"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=30 * 86400))
@example(1)
@example(60)
@example(3600)
@example(86400 + 1)
@example(30 * 86400)
def test_japanese_text_of_any_duration_parses_back_to_it(ja: Tr, seconds: int) -> None:
    value = timedelta(seconds=seconds)
    text = ja.duration(value)
    assert parse_duration(text) == value
    wide = text.translate({code: code + 0xFEE0 for code in range(ord("0"), ord("9") + 1)})
    assert parse_duration(wide) == value


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=30 * 86400))
def test_english_text_of_any_duration_parses_back_to_it_written_as_one_word(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(ENGLISH.duration(value).replace(" ", "")) == value
