"""handlers.parsing: ``/jit …`` text into a subcommand and its arguments; only ever InvalidInput."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.i18n import Catalogs
from handlers.parsing import MAX_TEXT, USAGE, Parsed, RequestArgs, parse, request_args, request_id, usage

REQUEST_USAGE = ("Usage: `/jit request <node>[,<node>…] [duration] [at 22:00 | at 2026-12-07 09:30] <reason> "
                 "[ticket=ABC-123]`")



def args_of(text: str) -> RequestArgs:
    return request_args(parse("request " + text))


# --- parse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_means_help(text: str) -> None:
    assert parse(text) == Parsed("help", (), "")


def test_parse_splits_name_args_and_rest() -> None:
    parsed = parse("  REQUEST  web-1   2h disk  full  ")
    assert parsed.name == "request"
    assert parsed.args == ("web-1", "2h", "disk", "full")
    assert parsed.rest == "web-1   2h disk  full"


def test_parse_name_only() -> None:
    assert parse("list") == Parsed("list", (), "")
    assert parse("HeLp") == Parsed("help", (), "")


def test_parse_keeps_unknown_names_for_the_caller() -> None:
    assert parse("frobnicate x").name == "frobnicate"


def test_parse_splits_args_on_any_whitespace() -> None:
    assert parse("revoke R1234 left\tthe\ncompany").args == ("R1234", "left", "the", "company")


@pytest.mark.parametrize("text", ["status\tR7K3Q9XAB", "status\nR7K3Q9XAB", "status\u3000R7K3Q9XAB"])
def test_parse_subcommand_followed_by_other_whitespace(text: str) -> None:
    parsed = parse(text)
    assert parsed.name == "status"
    assert parsed.args == ("R7K3Q9XAB",)


def test_text_of_max_length_is_fine() -> None:
    text = "request web-1 " + "x" * (MAX_TEXT - len("request web-1 "))
    assert len(text) == MAX_TEXT
    assert parse(text).name == "request"


def test_surrounding_whitespace_does_not_count_towards_the_length() -> None:
    text = "   " + "help" + " " * MAX_TEXT
    assert parse(text).name == "help"


def test_over_long_text_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        parse("x" * (MAX_TEXT + 1))
    assert str(info.value) == f"That command is too long ({MAX_TEXT + 1} characters); keep it under {MAX_TEXT}."


def test_usage() -> None:
    assert str(usage("request")) == REQUEST_USAGE
    assert str(usage("revoke")) == "Usage: `/jit revoke <request id> <reason>`"
    for name in USAGE:
        assert str(usage(name)).startswith("Usage: `/jit ")


def test_usage_and_errors_in_japanese_keep_the_syntax_as_typed() -> None:
    ja = Catalogs().get("ja")
    assert ja.text(usage("revoke")) == "使い方: `/jit revoke <request id> <reason>`"
    with pytest.raises(InvalidInput) as info:
        request_id(parse("status x!"), "status")
    assert info.value.say(ja) == ("'x!' はリクエスト ID（R7K3Q9XAB のような形式）ではありません。"
                                  "使い方: `/jit status <request id>`")
    assert str(info.value) == "'x!' is not a request id (like R7K3Q9XAB). Usage: `/jit status <request id>`"


@pytest.mark.parametrize(("text", "duration"), [
    ("request web-1 2時間 ディスクがいっぱい", "2時間"),
    ("request web-1 ２時間３０分 ディスクがいっぱい", "２時間３０分"),
    ("request web-1 30分 at 22:00 夜間デプロイ", "30分"),
    ("request web-1 1時間半 deploy", "1時間半"),
])
def test_japanese_durations_are_told_from_the_reason(text: str, duration: str) -> None:
    args = request_args(parse(text))
    assert args.node == "web-1" and args.duration == duration
    assert args.reason and duration not in args.reason


# --- request_args --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web-1 2h disk full on /var", RequestArgs("web-1", "2h", "disk full on /var", None)),
        ("web-1 disk full", RequestArgs("web-1", None, "disk full", None)),
        ("i-0123456789abcdef0 PT4H deploy", RequestArgs("i-0123456789abcdef0", "PT4H", "deploy", None)),
        ("web-1 1h30m deploy", RequestArgs("web-1", "1h30m", "deploy", None)),
        ("web-1 90s peek", RequestArgs("web-1", "90s", "peek", None)),
        ("web-1 1d long job", RequestArgs("web-1", "1d", "long job", None)),
        ("web-1 4H upper", RequestArgs("web-1", "4H", "upper", None)),
        # a word starting with a digit is taken as an attempted duration, to be checked later
        ("web-1 2hours deploy", RequestArgs("web-1", "2hours", "deploy", None)),
        ("web-1 31d too long", RequestArgs("web-1", "31d", "too long", None)),
        # only the word right after the node can be the duration
        ("web-1 deploy for 2h", RequestArgs("web-1", None, "deploy for 2h", None)),
        ("web-1 disk   full\tagain", RequestArgs("web-1", None, "disk full again", None)),
    ],
)
def test_request_args(text: str, expected: RequestArgs) -> None:
    assert args_of(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web-1 2h disk full ticket=ABC-123", RequestArgs("web-1", "2h", "disk full", "ABC-123")),
        ("web-1 ticket=ABC-123 2h disk full", RequestArgs("web-1", "2h", "disk full", "ABC-123")),
        ("ticket=ABC-123 web-1 disk full", RequestArgs("web-1", None, "disk full", "ABC-123")),
        ("web-1 disk TICKET=ops-9 full", RequestArgs("web-1", None, "disk full", "ops-9")),
        ("web-1 disk full Ticket=a=b", RequestArgs("web-1", None, "disk full", "a=b")),
        ("web-1 disk full ticket=", RequestArgs("web-1", None, "disk full", None)),
        ("web-1 disk full ticket=A-1 ticket=B-2", RequestArgs("web-1", None, "disk full", "B-2")),
        ("web-1 disk full tickets=A-1", RequestArgs("web-1", None, "disk full tickets=A-1", None)),
    ],
)
def test_request_args_with_a_ticket(text: str, expected: RequestArgs) -> None:
    assert args_of(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "ticket=ABC-123", "ticket= TICKET=x"])
def test_request_without_a_node(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        args_of(text)
    assert str(info.value) == f"Which node? {REQUEST_USAGE}"


@pytest.mark.parametrize("text", ["web-1", "web-1 2h", "web-1 PT4H ticket=ABC-1", "web-1 ticket=ABC-1", "web-1 7"])
def test_request_without_a_reason(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        args_of(text)
    assert str(info.value) == f"Please give a reason. {REQUEST_USAGE}"


@pytest.mark.parametrize("text", ["web-1 30000000000h disk full", "web-1 99999999999999999999s x"])
def test_request_with_a_huge_duration(text: str) -> None:
    try:
        args = args_of(text)
    except InvalidInput:
        return
    assert args.duration == text.split()[1]


# --- request_id ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status R7K3Q9XAB", "R7K3Q9XAB"),
        ("status r7k3q9xab", "R7K3Q9XAB"),
        ("cancel R1", "R1"),
        ("release R" + "A" * 19, "R" + "A" * 19),
        ("revoke R7K3Q9XAB left the company", "R7K3Q9XAB"),
    ],
)
def test_request_id(text: str, expected: str) -> None:
    parsed = parse(text)
    assert request_id(parsed, parsed.name) == expected


@pytest.mark.parametrize("name", ["status", "cancel", "release", "revoke"])
def test_request_id_missing(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        request_id(parse(name), name)
    assert str(info.value) == f"Which request? {usage(name)}"


@pytest.mark.parametrize("value", ["R", "X7K3Q9XAB", "7K3Q9XAB", "R7K3-Q9XAB", "R" + "A" * 20, "R7K3Q9XAB!", "<@U0X>"])
def test_request_id_malformed(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        request_id(parse(f"status {value}"), "status")
    assert str(info.value) == f"'{value}' is not a request id (like R7K3Q9XAB). {usage('status')}"


def test_request_id_message_cuts_a_long_argument() -> None:
    value = "Z" * 100
    with pytest.raises(InvalidInput) as info:
        request_id(parse(f"cancel {value}"), "cancel")
    assert str(info.value) == f"'{'Z' * 40}' is not a request id (like R7K3Q9XAB). {usage('cancel')}"


# --- totality ------------------------------------------------------------------------------------

words = st.one_of(
    st.sampled_from(["request", "status", "ticket=", "ticket=ABC-1", "2h", "PT4H", "0", "R1", "web-1", "4"]),
    st.text(min_size=1, max_size=12),
)
commands = st.one_of(st.text(max_size=200), st.lists(words, max_size=8).map(" ".join))


@settings(max_examples=300, deadline=None)
@given(commands)
@example("request")
@example("request ticket=")
@example("request web-1 ٤h reason")
@example("request \u00a0web-1")
@example("request web-1 \x00")
@example("x" * (MAX_TEXT + 1))
def test_parse_and_request_args_only_raise_invalid_input(text: str) -> None:
    if len(text.strip()) > MAX_TEXT:
        with pytest.raises(InvalidInput):
            parse(text)
        return
    parsed = parse(text)
    assert parsed.name == parsed.name.lower()
    assert all(a and not any(c.isspace() for c in a) for a in parsed.args)
    try:
        args = request_args(parsed)
    except InvalidInput as err:
        message = str(err)
    else:
        message = ""
        assert args.node
        # the node, or a list written with spaces after its commas ("web-1, web-2"): consecutive arguments joined
        assert any("".join(parsed.args[i:j]) == args.node for i in range(len(parsed.args))
                   for j in range(i + 1, len(parsed.args) + 1))
        assert args.reason
        assert args.reason == args.reason.strip()
        assert args.duration is None or args.duration in parsed.args
        assert args.ticket is None or not any(c.isspace() for c in args.ticket)
    assert message == "" or message.endswith(REQUEST_USAGE)
    for name in ("status", "cancel", "release", "revoke"):
        try:
            value = request_id(parsed, name)
        except InvalidInput as err:
            message = str(err)
        else:
            message = ""
            assert value.startswith("R")
            assert value.isalnum()
        assert message == "" or message.endswith(str(usage(name)))


@pytest.mark.parametrize(("text", "start", "reason"), [
    ("request web-1 2h at 22:00 night deploy", "22:00", "night deploy"),
    ("request web-1 at 2026-12-07 09:30 patch day ticket=OPS-1", "2026-12-07 09:30", "patch day"),
    ("request web-1 2h at risk of filling up", None, "at risk of filling up"),  # "at" then no time: the reason
])
def test_request_at_a_start(text: str, start: str | None, reason: str) -> None:
    args = request_args(parse(text))
    assert (args.node, args.start, args.reason) == ("web-1", start, reason)


def test_request_at_a_date_without_a_time() -> None:
    with pytest.raises(InvalidInput) as info:
        request_args(parse("request web-1 2h at 2026-12-07 patch day"))
    assert str(info.value) == f"Give a time after the date: `at 2026-12-07 09:30`. {REQUEST_USAGE}"


@pytest.mark.parametrize("text", ["request web-1,web-2,web-3 1h deploy", "request web-1, web-2, web-3 1h deploy",
                                  "request web-1 ,web-2 ,web-3 1h deploy"])
def test_a_list_of_nodes_is_one_argument_even_with_spaces_after_its_commas(text: str) -> None:
    assert request_args(parse(text)) == RequestArgs("web-1,web-2,web-3", "1h", "deploy", None)


def test_a_tag_selector_is_the_node_argument() -> None:
    assert request_args(parse("request tag:Role=web 30m rotate certs ticket=OPS-1")) == RequestArgs(
        "tag:Role=web", "30m", "rotate certs", "OPS-1")
