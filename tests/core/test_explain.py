"""core.explain: what would happen, in words, for auto-approval, deny and multi-level manual approval."""

from __future__ import annotations

from pathlib import Path

from core.errors import NotFound
from core.explain import Explanation, explain, who
from core.model import Node, UserInfo
from core.policy import Requester, parse_policies
from fakes import cast

REPO_POLICIES = (Path(__file__).resolve().parents[2] / "policies.toml").read_text("utf-8")
ACCOUNT = cast.ACCOUNT


class CastDirectory:
    """The Directory port over the demo's people (fakes/cast.py)."""

    def user(self, user_id: str) -> UserInfo:
        info = cast.USERS.get(user_id)
        if info is None:
            raise NotFound(f"Slack user {user_id} does not exist.")
        return UserInfo(user_id, email=str(info.get("email")), name=str(info["name"]),
                        deleted=bool(info.get("deleted")), email_confirmed=True)

    def group_members(self, group_id: str) -> frozenset[str]:
        return frozenset(cast.GROUPS.get(group_id, ()))


DIRECTORY = CastDirectory()


def english(done: Explanation) -> list[str]:
    return [str(line) for line in done.lines]


def person(user_id: str) -> Requester:
    info = DIRECTORY.user(user_id)
    groups = frozenset(g for g, members in cast.GROUPS.items() if user_id in members)
    return Requester(user_id, groups, email=info.email)


def node(name: str, **tags: str) -> Node:
    return Node("i-0123456789abcdef0", ACCOUNT, "us-east-1", name=name, tags=tags)


WEB = node("web-1", Environment="prod", Team="web")
DEV = node("dev-1", Environment="dev")
PCI = node("pci-db", Environment="prod", DataClass="pci")
POLICIES = parse_policies(REPO_POLICIES)


def test_auto_approval() -> None:
    done = explain(POLICIES, person(cast.BOB), DEV, directory=DIRECTORY, live=1)
    assert done.verdict.outcome == "auto"
    assert english(done)[0] == ("If Bob (U0BOB0001) asks for dev-1 (i-0123456789abcdef0) (account 123456789012, "
                             "us-east-1; Environment=dev) for the policy's default duration:")
    assert ("  • auto-approval policy 'dev-self-service' (nodes tagged Environment=dev): approves at once  "
            "← this one decides") in english(done)
    assert ("Decision: approved at once by auto-approval policy 'dev-self-service' (nodes tagged Environment=dev). "
            "Access starts immediately and lasts what you ask for, at most 8h (1h if you do not say).") in english(done)
    assert "Your AWS identity (which would receive the grant): arn:aws:iam::123456789012:role/bob." in english(done)


def test_auto_approval_that_covers_the_node_but_not_you() -> None:
    done = explain(POLICIES, person(cast.ALICE), DEV, directory=DIRECTORY)
    assert done.verdict.outcome == "manual"
    assert "Policies that cover this node, but not you:" in english(done)
    assert ("  • auto-approval policy 'dev-self-service' (nodes tagged Environment=dev): only for Bob "
            "(group S0DEVS)") in english(done)


def test_deny() -> None:
    done = explain(POLICIES, person(cast.MALLORY), PCI, directory=DIRECTORY)
    assert done.verdict.outcome == "denied"
    assert ("  • deny policy 'contractors-off-pci' (nodes tagged DataClass=pci): refuses access outright  "
            "← this one decides") in english(done)
    assert "Decision: refused. Access to pci-db (i-0123456789abcdef0) is denied by policy 'contractors-off-pci'." \
        in english(done)
    assert not any(line.startswith("  1.") for line in english(done))  # no approval path


def test_multi_level_manual_approval_names_the_approvers() -> None:
    done = explain(POLICIES, person(cast.ALICE), WEB, directory=DIRECTORY)
    text = done.text
    assert done.verdict.outcome == "manual"
    assert ("  • manual-approval policy 'everything-else' (all nodes): covers this node too, but 'production' is "
            "more specific") in english(done)
    assert ("Decision: your request needs approval under manual-approval policy 'production' (nodes tagged "
            "Environment=prod), for at most 4h (1h if you do not say). Access starts when the last level approves. "
            "The approval path, level after level:") in english(done)
    assert "  1. SRE lead: 1 approval from Sam, Tina (group S0SRELEAD), asked in channel C0SREAPPR." in english(done)
    assert ("  2. Manager: 2 approvals from Carol, Dave, asked in channel C0MGRAPPR. All of them must approve."
            in english(done)), text


def test_an_approver_asking_is_told_and_an_impossible_level_is_flagged() -> None:
    tight = REPO_POLICIES.replace('approvers = ["U0CAROL01", "U0DAVE001"]', 'approvers = ["U0CAROL01", "U0SAM0001"]')
    done = explain(parse_policies(tight), person(cast.SAM), WEB, directory=DIRECTORY)
    level1 = next(line for line in english(done) if line.startswith("  1. "))
    assert level1.startswith("  1. SRE lead: 1 approval from Sam, Tina (group S0SRELEAD)")
    assert "You are one of them, but nobody approves their own request." in level1
    assert "can never be satisfied" not in level1
    level2 = next(line for line in english(done) if line.startswith("  2. "))
    assert level2.endswith("This level can never be satisfied for you: it needs 2 approvals and only 1 other "
                           "person can give one; ask an admin to fix the policy.")


def test_offline_explanation_shows_ids() -> None:
    done = explain(POLICIES, Requester(cast.ALICE, frozenset({"S0ENGINEERS"})), WEB)
    assert english(done)[0].startswith("If U0ALICE01 asks for web-1")
    assert "  1. SRE lead: 1 approval from user group S0SRELEAD, asked in channel C0SREAPPR." in english(done)
    assert str(who(["S0SRELEAD", "U0CAROL01"], DIRECTORY)) == "Sam, Tina (group S0SRELEAD), Carol"
    assert str(who(["S0NOSUCH"], DIRECTORY)) == "nobody (user group S0NOSUCH is empty or unknown)"


def test_manual_policy_not_listing_the_requester() -> None:
    done = explain(POLICIES, person(cast.BOB), WEB, directory=DIRECTORY)
    assert done.verdict.outcome == "denied"
    assert ("Decision: refused. manual-approval policy 'production' (nodes tagged Environment=prod) covers web-1 "
            "(i-0123456789abcdef0) but only for Alice, Erin, Mallory, Sam, Tina (group S0ENGINEERS).") in english(done)


def test_limits_identity_and_breakglass() -> None:
    text = REPO_POLICIES.replace('[settings]\n', '[settings]\nmax_active_grants = 2\n', 1).replace(
        'default_duration = "1h"\n', 'default_duration = "1h"\nticket_pattern = "CHG-[0-9]+"\n', 1)
    text += '\n[breakglass]\nrequesters = ["S0SRELEAD"]\nmax_duration = "30m"\n'
    policies = parse_policies(text)
    done = explain(policies, person(cast.SAM), WEB, directory=DIRECTORY, live=1)
    assert "A ticket is required: add ticket=<id> matching `CHG-[0-9]+`." in english(done)
    assert "You may have at most 2 requests pending or active at a time (you have 1)." in english(done)
    assert english(done)[-1] == ("In an emergency, `/jit breakglass web-1 <reason>` gives you access at once for at "
                                 "most 30m; level 1 of 'production' (SRE lead) must review it afterwards.")
    refused = explain(policies, person(cast.SAM), PCI, directory=DIRECTORY)  # the deny is for contractors only
    assert refused.verdict.outcome == "manual"
    nobody = explain(policies, person(cast.OSCAR), WEB, directory=DIRECTORY)
    assert ("You have no AWS identity in [identities]: every request is refused until an admin maps your Slack "
            "account to your IAM role or user.") in english(nobody)
    assert not any("breakglass" in line for line in english(nobody))


def test_breakglass_cannot_override_deny_all() -> None:
    text = REPO_POLICIES + '\n[breakglass]\nrequesters = ["U0MALLORY"]\n'
    done = explain(parse_policies(text), person(cast.MALLORY), PCI, directory=DIRECTORY)
    assert english(done)[-1] == "Break-glass cannot override 'contractors-off-pci': it refuses access outright."


def test_max_nodes_is_explained_where_a_policy_allows_several() -> None:
    text = REPO_POLICIES.replace('max_duration = "8h"\n', 'max_duration = "8h"\nmax_nodes = 4\n', 1)
    done = explain(parse_policies(text), person(cast.BOB), DEV, directory=DIRECTORY)
    assert ("One request may name up to 4 nodes under policy 'dev-self-service' (max_nodes): `/jit request "
            "web-1,web-2 <duration> <reason>`, or every node with a tag, `tag:Role=web`. Each must fall under this "
            "policy, in one account and region; they are approved, granted and ended together.") in english(done)
    plain = explain(POLICIES, person(cast.BOB), DEV, directory=DIRECTORY)  # max_nodes = 1: nothing to say
    assert not any("max_nodes" in line for line in english(plain))


def test_counted_words_read_as_english_plurals_in_both_forms() -> None:
    from core.explain_nodes import explain_nodes

    misc = node("misc-1")
    assert any(line.endswith("'production' (nodes tagged Environment=prod): applies: 2 approval levels  ← this one "
                             "decides") for line in english(explain(POLICIES, person(cast.ALICE), WEB)))
    assert any(line.endswith("(all nodes): applies: 1 approval level  ← this one decides")
               for line in english(explain(POLICIES, person(cast.ALICE), misc)))
    both = english(explain_nodes(POLICIES, person(cast.ALICE), [WEB, misc], directory=DIRECTORY))
    assert any(line.endswith("(nodes tagged Environment=prod) (2 levels), at most 4h.") for line in both)
    assert any(line.endswith("'everything-else' (all nodes) (1 level), at most 2h.") for line in both)
    # nobody else can approve: 1 approval needed, 0 other people
    alone = REPO_POLICIES.replace('approvers = ["S0SRELEAD"]\n  required = 1', 'approvers = ["U0SAM0001"]\n  '
                                  'required = 1', 1)
    level1 = next(line for line in english(explain(parse_policies(alone), person(cast.SAM), WEB,
                                                   directory=DIRECTORY)) if line.startswith("  1. "))
    assert level1.endswith("This level can never be satisfied for you: it needs 1 approval and only 0 other people "
                           "can give one; ask an admin to fix the policy.")
    one = parse_policies(REPO_POLICIES.replace('[settings]\n', '[settings]\nmax_active_grants = 1\n', 1).replace(
        'default_duration = "1h"\n', 'default_duration = "1h"\nmax_active_grants = 1\n', 1))
    lines = english(explain(one, person(cast.SAM), WEB, directory=DIRECTORY, live=0))
    assert "You may have at most 1 request pending or active at a time (you have 0)." in lines
    assert "Policy 'production' allows at most 1 pending or active request per person." in lines
    assert "You may have at most 1 request pending or active at a time." in english(explain(one, person(cast.SAM),
                                                                                            WEB))
    three = parse_policies(REPO_POLICIES.replace('default_duration = "1h"\n',
                                                 'default_duration = "1h"\nmax_active_grants = 3\n', 1))
    assert "Policy 'production' allows at most 3 pending or active requests per person." in english(explain(
        three, person(cast.SAM), WEB))
    assert "You may have at most 3 requests pending or active at a time." in english(explain(parse_policies(
        REPO_POLICIES.replace('[settings]\n', '[settings]\nmax_active_grants = 3\n', 1)), person(cast.SAM), WEB))
