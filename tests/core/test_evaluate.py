"""core.policy.evaluate: deny, then auto-approval, then the most specific manual policy (docs/policies.md)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.model import Node
from core.policy import (
    AutoApprovalPolicy,
    DenyPolicy,
    ManualApprovalPolicy,
    PolicyFile,
    Requester,
    evaluate,
)
from core.policy.evaluate import matches

WEB = "i-0123456789abcdef0"
DB = "i-0123456789abcdef1"
HYBRID = "mi-0123456789abcdef0"
ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"

ALICE = Requester("U0ALICE01", frozenset({"S0DEVS"}))
BOB = Requester("U0BOB0001")
SRE = Requester("U0SRE0001", frozenset({"S0SRE0001", "S0DEVS"}))


def node(
    node_id: str = WEB, tags: dict[str, str] | None = None, account: str = ACCOUNT, name: str | None = "web-1"
) -> Node:
    return Node(node_id, account, "eu-west-1", name=name, tags=tags or {})


PROD_WEB = node(tags={"Environment": "prod", "Team": "web"})
DEV_WEB = node(tags={"Environment": "dev", "Team": "web"})


def level(**extra: Any) -> dict[str, Any]:
    return {"channel": "C0APPR001", "approvers": ["U0APPR001"], **extra}


def deny(name: str, targets: Any = "all", **extra: Any) -> dict[str, Any]:
    return {"name": name, "targets": targets, **extra}


def auto(name: str, targets: Any = "all", **extra: Any) -> dict[str, Any]:
    return {"name": name, "targets": targets, **extra}


def manual(name: str, targets: Any = "all", levels: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": name, "targets": targets, "levels": [level() for _ in range(levels)], **extra}


def policies(
    deny: list[dict[str, Any]] | None = None,
    auto: list[dict[str, Any]] | None = None,
    manual: list[dict[str, Any]] | None = None,
) -> PolicyFile:
    """A PolicyFile straight from the schema (no cross-policy checks, so ties can be built too)."""
    return PolicyFile.model_validate({"deny": deny or [], "auto_approval": auto or [], "manual_approval": manual or []})


# --- deny ----------------------------------------------------------------------------------------


def test_deny_all_beats_auto_and_manual() -> None:
    file = policies(deny=[deny("lockdown")], auto=[auto("everyone")], manual=[manual("prod")])
    verdict = evaluate(file, ALICE, PROD_WEB, timedelta(minutes=5))
    assert verdict.outcome == "denied"
    assert isinstance(verdict.policy, DenyPolicy)
    assert verdict.policy.name == "lockdown"
    assert str(verdict.message) == f"Access to web-1 ({WEB}) is denied by policy 'lockdown'."
    assert verdict.trace == ("deny 'lockdown' matches: access refused",)
    assert verdict.granting is None


def test_deny_all_after_a_deny_auto_still_refuses() -> None:
    file = policies(deny=[deny("soft", block="auto"), deny("hard")], manual=[manual("prod")])
    verdict = evaluate(file, ALICE, PROD_WEB)
    assert verdict.outcome == "denied"
    assert verdict.policy is not None
    assert verdict.policy.name == "hard"
    assert verdict.trace == (
        "deny 'soft' matches: auto-approval is blocked, manual approval still possible",
        "deny 'hard' matches: access refused",
    )


def test_deny_applies_only_to_its_requesters() -> None:
    file = policies(deny=[deny("no-bob", requesters=["U0BOB0001"])], auto=[auto("everyone")])
    assert evaluate(file, BOB, PROD_WEB).outcome == "denied"
    assert evaluate(file, ALICE, PROD_WEB).outcome == "auto"


def test_deny_applies_through_group_membership() -> None:
    file = policies(deny=[deny("no-devs", requesters=["S0DEVS"])], manual=[manual("prod")])
    assert evaluate(file, ALICE, PROD_WEB).outcome == "denied"
    assert evaluate(file, BOB, PROD_WEB).outcome == "manual"


def test_deny_applies_only_to_its_targets() -> None:
    file = policies(deny=[deny("no-pci", {"tags": {"DataClass": "pci"}})], manual=[manual("any")])
    assert evaluate(file, ALICE, node(tags={"DataClass": "pci"})).outcome == "denied"
    assert evaluate(file, ALICE, node(tags={"DataClass": "public"})).outcome == "manual"
    assert evaluate(file, ALICE, node()).outcome == "manual"


def test_deny_auto_blocks_only_auto_approval() -> None:
    file = policies(
        deny=[deny("no-auto-prod", {"tags": {"Environment": "prod"}}, block="auto")],
        auto=[auto("everyone")],
        manual=[manual("prod", {"tags": {"Environment": "prod"}})],
    )
    verdict = evaluate(file, ALICE, PROD_WEB, timedelta(minutes=5))
    assert verdict.outcome == "manual"
    assert isinstance(verdict.policy, ManualApprovalPolicy)
    assert verdict.policy.name == "prod"
    assert verdict.granting is verdict.policy
    assert str(verdict.message) == "Needs approval under policy 'prod'."
    assert verdict.trace == (
        "deny 'no-auto-prod' matches: auto-approval is blocked, manual approval still possible",
        "manual 'prod' applies: 1 approval level(s)",
    )
    # on a node the deny does not cover, auto-approval still works
    assert evaluate(file, ALICE, DEV_WEB, timedelta(minutes=5)).outcome == "auto"


def test_deny_auto_without_a_manual_policy_says_why() -> None:
    file = policies(deny=[deny("no-auto", block="auto")], auto=[auto("everyone")])
    verdict = evaluate(file, ALICE, PROD_WEB)
    assert verdict.outcome == "no_policy"
    assert verdict.policy is None
    assert verdict.granting is None
    assert str(verdict.message) == (
        f"No policy lets you request access to web-1 ({WEB}) (auto-approval is blocked by 'no-auto')."
    )
    assert verdict.trace == (
        "deny 'no-auto' matches: auto-approval is blocked, manual approval still possible",
        "no manual-approval policy covers this node",
    )


def test_two_deny_auto_name_the_first_in_the_message() -> None:
    file = policies(deny=[deny("first", block="auto"), deny("second", block="auto")])
    verdict = evaluate(file, ALICE, PROD_WEB)
    assert str(verdict.message).endswith("(auto-approval is blocked by 'first').")
    assert len(verdict.trace) == 3


# --- auto-approval -------------------------------------------------------------------------------


def test_auto_when_requester_in_group_and_duration_within_max() -> None:
    file = policies(
        auto=[auto("dev-self-service", {"tags": {"Environment": "dev"}}, requesters=["S0DEVS"], max_duration="8h")],
        manual=[manual("fallback")],
    )
    verdict = evaluate(file, ALICE, DEV_WEB, timedelta(hours=2))
    assert verdict.outcome == "auto"
    assert isinstance(verdict.policy, AutoApprovalPolicy)
    assert verdict.granting is verdict.policy
    assert str(verdict.message) == "Auto-approved by policy 'dev-self-service'."
    assert verdict.trace == ("auto-approval 'dev-self-service' matches: approved at once",)


def test_auto_at_exactly_max_duration() -> None:
    file = policies(auto=[auto("a", max_duration="8h")])
    assert evaluate(file, BOB, DEV_WEB, timedelta(hours=8)).outcome == "auto"


def test_auto_without_a_known_duration() -> None:
    file = policies(auto=[auto("a", max_duration="1h")])
    assert evaluate(file, BOB, DEV_WEB, None).outcome == "auto"


def test_auto_needs_the_requester_in_its_requesters() -> None:
    file = policies(auto=[auto("devs", requesters=["S0DEVS"])], manual=[manual("fallback")])
    assert evaluate(file, ALICE, DEV_WEB).outcome == "auto"
    verdict = evaluate(file, BOB, DEV_WEB)
    assert verdict.outcome == "manual"
    assert verdict.trace == ("manual 'fallback' applies: 1 approval level(s)",)


def test_auto_by_user_id() -> None:
    file = policies(auto=[auto("bob-only", requesters=["U0BOB0001"])])
    assert evaluate(file, BOB, DEV_WEB).outcome == "auto"
    assert evaluate(file, ALICE, DEV_WEB).outcome == "no_policy"


def test_auto_needs_its_targets() -> None:
    file = policies(auto=[auto("dev", {"tags": {"Environment": "dev"}})], manual=[manual("fallback")])
    assert evaluate(file, ALICE, DEV_WEB).outcome == "auto"
    assert evaluate(file, ALICE, PROD_WEB).outcome == "manual"


def test_auto_falls_through_to_manual_when_duration_exceeds_its_max() -> None:
    file = policies(auto=[auto("short", max_duration="1h")], manual=[manual("prod", levels=2)])
    verdict = evaluate(file, ALICE, DEV_WEB, timedelta(hours=1, seconds=1))
    assert verdict.outcome == "manual"
    assert verdict.policy is not None
    assert verdict.policy.name == "prod"
    assert verdict.trace == (
        "auto-approval 'short' matches but allows at most 1h",
        "manual 'prod' applies: 2 approval level(s)",
    )


def test_auto_falls_through_to_a_later_auto_policy_with_a_longer_max() -> None:
    file = policies(auto=[auto("short", max_duration="1h"), auto("long", max_duration="1d")])
    verdict = evaluate(file, ALICE, DEV_WEB, timedelta(hours=3))
    assert verdict.outcome == "auto"
    assert verdict.policy is not None
    assert verdict.policy.name == "long"
    assert verdict.trace == (
        "auto-approval 'short' matches but allows at most 1h",
        "auto-approval 'long' matches: approved at once",
    )


def test_auto_too_short_and_no_manual_is_no_policy() -> None:
    file = policies(auto=[auto("short", max_duration="1h")])
    verdict = evaluate(file, ALICE, DEV_WEB, timedelta(hours=2))
    assert verdict.outcome == "no_policy"
    assert str(verdict.message) == f"No policy lets you request access to web-1 ({WEB})."
    assert verdict.trace == (
        "auto-approval 'short' matches but allows at most 1h",
        "no manual-approval policy covers this node",
    )


def test_first_matching_auto_policy_wins() -> None:
    file = policies(auto=[auto("one"), auto("two")])
    verdict = evaluate(file, ALICE, DEV_WEB)
    assert verdict.policy is not None
    assert verdict.policy.name == "one"


# --- manual approval: the most specific target wins ----------------------------------------------

SPECIFICITY_LADDER = [
    manual("everything", "all"),
    manual("prod", {"tags": {"Environment": "prod"}}),
    manual("prod-web", {"tags": {"Environment": "prod", "Team": "web"}}),
    manual("this-node", {"nodes": [WEB, DB]}),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_node_ids_beat_tags_beat_all_in_any_order(order: tuple[int, ...]) -> None:
    file = policies(manual=[SPECIFICITY_LADDER[i] for i in order])
    verdict = evaluate(file, ALICE, PROD_WEB)
    assert verdict.outcome == "manual"
    assert verdict.policy is not None
    assert verdict.policy.name == "this-node"
    losers = {f"manual '{n}' matches but 'this-node' is more specific" for n in ("everything", "prod", "prod-web")}
    assert set(verdict.trace[:-1]) == losers
    assert verdict.trace[-1] == "manual 'this-node' applies: 1 approval level(s)"


@pytest.mark.parametrize(
    ("target", "winner"),
    [
        (PROD_WEB, "this-node"),  # node ids > more tags
        (node(HYBRID, {"Environment": "prod", "Team": "web"}), "prod-web"),  # more tags > fewer tags
        (node(HYBRID, {"Environment": "prod", "Team": "db"}), "prod"),  # fewer tags > all
        (node(HYBRID, {"Environment": "dev"}), "everything"),
        (node(DB), "this-node"),
    ],
)
def test_most_specific_manual_policy_wins(target: Node, winner: str) -> None:
    for order in (SPECIFICITY_LADDER, SPECIFICITY_LADDER[::-1]):
        verdict = evaluate(policies(manual=order), ALICE, target)
        assert verdict.outcome == "manual"
        assert verdict.policy is not None
        assert verdict.policy.name == winner


def test_account_restricted_targets() -> None:
    file = policies(
        manual=[
            manual("prod", {"tags": {"Environment": "prod"}}),
            manual("prod-other", {"tags": {"Environment": "prod"}, "accounts": [OTHER_ACCOUNT]}),
            manual("other-account", {"accounts": [OTHER_ACCOUNT]}),
        ]
    )
    here = evaluate(file, ALICE, PROD_WEB)
    assert here.policy is not None
    assert here.policy.name == "prod"
    there = evaluate(file, ALICE, node(tags={"Environment": "prod"}, account=OTHER_ACCOUNT))
    assert there.policy is not None
    assert there.policy.name == "prod-other"
    other = evaluate(file, ALICE, node(account=OTHER_ACCOUNT))
    assert other.policy is not None
    assert other.policy.name == "other-account"
    assert evaluate(file, ALICE, node()).outcome == "no_policy"


def test_requesters_of_the_winning_manual_policy_refuse_without_falling_back() -> None:
    file = policies(
        manual=[
            manual("open", "all"),
            manual("prod", {"tags": {"Environment": "prod"}}),
            manual("sre-only", {"nodes": [WEB]}, requesters=["S0SRE0001"]),
        ]
    )
    verdict = evaluate(file, ALICE, PROD_WEB)
    assert verdict.outcome == "denied"
    assert isinstance(verdict.policy, ManualApprovalPolicy)
    assert verdict.policy.name == "sre-only"
    assert str(verdict.message) == f"Policy 'sre-only' covers web-1 ({WEB}) but does not list you as a requester."
    assert verdict.trace == (
        "manual 'open' matches but 'sre-only' is more specific",
        "manual 'prod' matches but 'sre-only' is more specific",
        "manual 'sre-only' applies but you are not among its requesters",
    )
    allowed = evaluate(file, SRE, PROD_WEB)
    assert allowed.outcome == "manual"
    assert allowed.policy is not None
    assert allowed.policy.name == "sre-only"
    # a node the restricted policy does not cover falls to the next most specific one
    elsewhere = evaluate(file, ALICE, node(DB, {"Environment": "prod"}))
    assert elsewhere.outcome == "manual"
    assert elsewhere.policy is not None
    assert elsewhere.policy.name == "prod"


def test_no_policy() -> None:
    file = policies(
        auto=[auto("dev", {"tags": {"Environment": "dev"}})],
        manual=[manual("prod", {"tags": {"Environment": "prod"}})],
    )
    verdict = evaluate(file, ALICE, node(tags={"Environment": "staging"}))
    assert verdict.outcome == "no_policy"
    assert verdict.policy is None
    assert str(verdict.message) == f"No policy lets you request access to web-1 ({WEB})."
    assert verdict.trace == ("no manual-approval policy covers this node",)


def test_no_policy_in_an_empty_file_labels_an_unnamed_node() -> None:
    verdict = evaluate(PolicyFile(), ALICE, node(name=None))
    assert verdict.outcome == "no_policy"
    assert str(verdict.message) == f"No policy lets you request access to {WEB}."


def test_full_trace_explains_each_step() -> None:
    file = policies(
        deny=[
            deny("pci", {"tags": {"DataClass": "pci"}}),  # does not match: silent
            deny("prod-no-auto", {"tags": {"Environment": "prod"}}, block="auto"),
            deny("contractors", requesters=["S0CONTRACT"]),  # requester not concerned: silent
        ],
        auto=[auto("everyone")],  # skipped: auto-approval is blocked
        manual=[manual("all-nodes"), manual("prod", {"tags": {"Environment": "prod"}}, levels=3)],
    )
    verdict = evaluate(file, ALICE, PROD_WEB, timedelta(hours=1))
    assert verdict.outcome == "manual"
    assert verdict.trace == (
        "deny 'prod-no-auto' matches: auto-approval is blocked, manual approval still possible",
        "manual 'all-nodes' matches but 'prod' is more specific",
        "manual 'prod' applies: 3 approval level(s)",
    )


# --- the pieces ----------------------------------------------------------------------------------


def test_requester_is_in() -> None:
    assert ALICE.is_in(None)
    assert ALICE.is_in(("U0ALICE01",))
    assert ALICE.is_in(("S0OTHER01", "S0DEVS"))
    assert not ALICE.is_in(("U0BOB0001", "S0SRE0001"))
    assert not BOB.is_in(("S0DEVS",))


@pytest.mark.parametrize(
    ("targets", "target", "expected"),
    [
        ("all", node(), True),
        ({"nodes": [WEB]}, node(), True),
        ({"nodes": [DB]}, node(), False),
        ({"tags": {"Environment": "prod"}}, PROD_WEB, True),
        ({"tags": {"Environment": "prod"}}, DEV_WEB, False),
        ({"tags": {"Environment": "prod", "Team": "db"}}, PROD_WEB, False),
        ({"tags": {"environment": "prod"}}, PROD_WEB, False),  # tag keys are case-sensitive
        ({"tags": {"Environment": ""}}, node(), False),
        ({"accounts": [ACCOUNT]}, node(), True),
        ({"accounts": [OTHER_ACCOUNT]}, node(), False),
        ({"nodes": [WEB], "accounts": [OTHER_ACCOUNT]}, node(), False),
        ({"tags": {"Environment": "prod"}, "accounts": [ACCOUNT]}, PROD_WEB, True),
    ],
)
def test_matches(targets: Any, target: Node, expected: bool) -> None:
    file = policies(manual=[manual("p", targets)])
    assert matches(file.manual_approval[0].targets, target) is expected


# --- a property: whatever the file, the verdict is consistent with it ----------------------------

TAG_CHOICES = st.dictionaries(
    st.sampled_from(["Environment", "Team"]), st.sampled_from(["prod", "dev", "web"]), min_size=1
)
TARGET_CHOICES = st.one_of(
    st.just("all"),
    st.builds(lambda n: {"nodes": n}, st.lists(st.sampled_from([WEB, DB, HYBRID]), min_size=1, unique=True)),
    st.builds(lambda t: {"tags": t}, TAG_CHOICES),
)
REQUESTER_CHOICES = st.none() | st.lists(
    st.sampled_from(["U0ALICE01", "U0BOB0001", "S0DEVS", "S0SRE0001"]), min_size=1, max_size=2, unique=True
)


def _with_requesters(policy: dict[str, Any], requesters: list[str] | None) -> dict[str, Any]:
    return policy if requesters is None else {**policy, "requesters": requesters}


@settings(max_examples=100, deadline=None)
@given(
    denies=st.lists(st.tuples(TARGET_CHOICES, REQUESTER_CHOICES, st.sampled_from(["auto", "all"])), max_size=2),
    autos=st.lists(st.tuples(TARGET_CHOICES, REQUESTER_CHOICES, st.sampled_from(["1h", "8h"])), max_size=2),
    manuals=st.lists(st.tuples(TARGET_CHOICES, REQUESTER_CHOICES), max_size=3),
    requester=st.sampled_from([ALICE, BOB, SRE]),
    target=st.builds(
        node,
        st.sampled_from([WEB, DB, HYBRID]),
        st.dictionaries(st.sampled_from(["Environment", "Team"]), st.sampled_from(["prod", "dev", "web"])),
    ),
    duration=st.none() | st.sampled_from([timedelta(minutes=30), timedelta(hours=4), timedelta(days=2)]),
)
def test_verdict_is_consistent_with_the_file(
    denies: list[Any],
    autos: list[Any],
    manuals: list[Any],
    requester: Requester,
    target: Node,
    duration: timedelta | None,
) -> None:
    file = policies(
        deny=[_with_requesters(deny(f"d{i}", t, block=b), r) for i, (t, r, b) in enumerate(denies)],
        auto=[_with_requesters(auto(f"a{i}", t, max_duration=m), r) for i, (t, r, m) in enumerate(autos)],
        manual=[_with_requesters(manual(f"m{i}", t), r) for i, (t, r) in enumerate(manuals)],
    )
    verdict = evaluate(file, requester, target, duration)
    assert verdict.trace, "every verdict explains itself"
    hit_denies = [d for d in file.deny if matches(d.targets, target) and requester.is_in(d.requesters)]
    hard = [d for d in hit_denies if d.block == "all"]
    candidates = [m for m in file.manual_approval if matches(m.targets, target)]
    if hard:
        assert verdict.outcome == "denied"
        assert verdict.policy is hard[0]
    elif verdict.outcome == "auto":
        assert not hit_denies
        assert isinstance(verdict.policy, AutoApprovalPolicy)
        assert matches(verdict.policy.targets, target)
        assert requester.is_in(verdict.policy.requesters)
        assert duration is None or duration <= verdict.policy.max_duration
    elif candidates:
        best = max(m.targets.specificity for m in candidates)
        assert isinstance(verdict.policy, ManualApprovalPolicy)
        assert verdict.policy in candidates
        assert verdict.policy.targets.specificity == best
        assert verdict.outcome == ("manual" if requester.is_in(verdict.policy.requesters) else "denied")
    else:
        assert verdict.outcome == "no_policy"
        assert verdict.policy is None
    if verdict.outcome in ("manual", "no_policy") and not hit_denies:
        # no auto-approval policy could have applied
        for a in file.auto_approval:
            applies = matches(a.targets, target) and requester.is_in(a.requesters)
            assert not applies or (duration is not None and duration > a.max_duration)
