"""Cedar statements beside the TOML policies: the JITNA-shaped examples of docs/policies.md evaluated on the
demo's nodes and people, located syntax and schema errors, annotations, and evaluation errors."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from core.model import Node
from core.policy import PolicyError, PolicyFile, Requester, evaluate, load_policies, parse_policies
from core.policy.cedar_rules import CedarForbid, CedarPermit
from fakes import cast

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = cast.ACCOUNT


def docs_cedar() -> str:
    """Every ```cedar block of docs/policies.md, as one file (the docs must stay true)."""
    text = (REPO / "docs" / "policies.md").read_text("utf-8")
    blocks = re.findall(r"```cedar\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= 4
    return "\n".join(blocks)


def with_cedar(tmp_path: Path, cedar: str, toml: str | None = None) -> PolicyFile:
    base = toml if toml is not None else (REPO / "policies.toml").read_text("utf-8")
    base = base.replace("[settings]\n", '[settings]\ncedar_policies = "policies.cedar"\n', 1)
    (tmp_path / "policies.cedar").write_text(cedar, "utf-8")
    (tmp_path / "policies.toml").write_text(base, "utf-8")
    return load_policies(tmp_path / "policies.toml")


def person(user_id: str) -> Requester:
    info = cast.USERS[user_id]
    groups = frozenset(g for g, members in cast.GROUPS.items() if user_id in members)
    return Requester(user_id, groups, email=str(info.get("email") or "") or None)


def seeded(name: str, **extra: str) -> Node:
    """A node of the demo (fakes/cast.py), with extra tags when the example needs one."""
    spec = next(n for n in cast.NODES if n.name == name)
    index = [n.name for n in cast.NODES].index(name)
    return Node(f"i-0{index:016x}", ACCOUNT, "us-east-1", name=name, tags={**spec.tags, **extra})


COST_CENTRE = Node("i-0c0575c0575c0575c", ACCOUNT, "us-east-1", name="ledger-1",
                   tags={"Environment": "prod", "CostCenter": "CC-PLATFORM"})


@pytest.fixture
def examples(tmp_path: Path) -> PolicyFile:
    return with_cedar(tmp_path, docs_cedar())


# --- the documented examples on the demo's nodes ----------------------------------------------------------

def test_cost_centre_example_auto_approves_the_group_up_to_its_max(examples: PolicyFile) -> None:
    verdict = evaluate(examples, person(cast.ALICE), COST_CENTRE, timedelta(hours=2))
    assert verdict.outcome == "auto" and verdict.policy is not None
    assert verdict.policy.name == "platform-cost-centre" and isinstance(verdict.policy, CedarPermit)
    assert verdict.trace[-1].startswith("Cedar permit 'platform-cost-centre' (")
    longer = evaluate(examples, person(cast.ALICE), COST_CENTRE, timedelta(hours=3))
    assert longer.outcome == "manual" and longer.policy is not None and longer.policy.name == "production"
    assert any("allows at most 2h" in line for line in longer.trace)


def test_cost_centre_example_needs_the_tag_and_the_group(examples: PolicyFile) -> None:
    assert evaluate(examples, person(cast.ALICE), seeded("web-1")).outcome == "manual"
    other = Node(COST_CENTRE.id, ACCOUNT, "us-east-1", tags={"Environment": "prod", "CostCenter": "CC-OTHER"})
    assert evaluate(examples, person(cast.ALICE), other).outcome == "manual"
    bob = evaluate(examples, person(cast.BOB), COST_CENTRE)  # not an engineer: production does not list him
    assert bob.outcome == "denied" and bob.policy is not None and bob.policy.name == "production"


def test_owner_example_matches_the_profile_email_to_a_tag(examples: PolicyFile) -> None:
    node = seeded("batch", Owner="erin@example.com")
    verdict = evaluate(examples, person(cast.ERIN), node)
    assert verdict.outcome == "auto" and verdict.policy is not None
    assert verdict.policy.name == "owners-get-their-nodes"
    assert evaluate(examples, person(cast.ALICE), node).outcome == "manual"
    no_email = Requester(cast.ERIN, frozenset({"S0ENGINEERS"}))  # `principal has email` guards the read
    assert evaluate(examples, no_email, node).outcome == "manual"


def test_group_example_with_a_ticket_in_the_context(examples: PolicyFile) -> None:
    staging = seeded("batch")
    sam = person(cast.SAM)
    with_ticket = evaluate(examples, sam, staging, has_ticket=True)
    assert with_ticket.outcome == "auto" and with_ticket.policy is not None
    assert with_ticket.policy.name == "sre-staging-with-incident"
    assert with_ticket.policy.ticket_pattern == "INC-[0-9]+"
    assert with_ticket.policy.max_duration == timedelta(minutes=30)
    assert evaluate(examples, sam, staging, has_ticket=False).outcome == "manual"
    assert evaluate(examples, person(cast.ALICE), staging, has_ticket=True).outcome == "manual"
    assert evaluate(examples, sam, seeded("dev-1"), has_ticket=True).outcome == "manual"


def test_temporary_staff_lose_auto_approval_but_may_ask(examples: PolicyFile) -> None:
    mallory = person(cast.MALLORY)  # an engineer, and in the contractors' group
    verdict = evaluate(examples, mallory, COST_CENTRE)
    assert verdict.outcome == "manual" and verdict.policy is not None and verdict.policy.name == "production"
    blocked = [m for m in verdict.matched if isinstance(m.policy, CedarForbid)]
    assert [m.policy.name for m in blocked] == ["no-auto-approval-for-temporary-staff"]
    permit = next(m for m in verdict.matched if m.policy.name == "platform-cost-centre")
    assert "blocks it" in str(permit.effect) and not permit.decided


def test_temporary_staff_refused_on_cardholder_data(tmp_path: Path) -> None:
    toml = (REPO / "policies.toml").read_text("utf-8").replace('name = "contractors-off-pci"', 'name = "x"')
    toml = re.sub(r"\[\[deny\]\].*?(?=\[\[auto_approval\]\])", "", toml, flags=re.DOTALL)  # only Cedar denies
    policies = with_cedar(tmp_path, docs_cedar(), toml)
    verdict = evaluate(policies, person(cast.MALLORY), seeded("pci-db"))
    assert verdict.outcome == "denied" and isinstance(verdict.policy, CedarForbid)
    assert verdict.policy.name == "temporary-staff-off-cardholder-data" and verdict.policy.block == "all"
    assert str(verdict.message) == "Access to pci-db (" + seeded("pci-db").id + ") is denied by policy " \
                              "'temporary-staff-off-cardholder-data'."
    assert evaluate(policies, person(cast.ALICE), seeded("pci-db")).outcome == "manual"


def test_toml_policies_keep_their_precedence(examples: PolicyFile) -> None:
    bob = evaluate(examples, person(cast.BOB), seeded("dev-1"))
    assert bob.outcome == "auto" and bob.policy is not None and bob.policy.name == "dev-self-service"
    mallory = evaluate(examples, person(cast.MALLORY), seeded("pci-db"))
    assert mallory.policy is not None and mallory.policy.name == "contractors-off-pci"  # TOML deny first


def test_cedar_groups_are_referenced_and_names_listed(examples: PolicyFile) -> None:
    assert {"S0ENGINEERS", "S0SRELEAD"} <= examples.referenced_groups()
    assert "platform-cost-centre" in examples.policy_names()
    assert examples.cedar is not None and len(examples.cedar.permits) == 3 and len(examples.cedar.forbids) == 2


def test_toml_deny_auto_blocks_cedar_permits(tmp_path: Path) -> None:
    toml = """
[settings]
[[deny]]
name = "freeze"
targets = "all"
block = "auto"
"""
    policies = with_cedar(tmp_path, "permit(principal, action, resource);", toml)
    verdict = evaluate(policies, Requester("U0ALICE01"), COST_CENTRE)
    assert verdict.outcome == "no_policy" and "blocked by 'freeze'" in str(verdict.message)


def test_context_duration_and_principal(tmp_path: Path) -> None:
    cedar = """
@id("short") permit(principal, action, resource) when { context.durationSeconds <= 900 };
@id("alice-role") @max_duration("8h")
permit(principal, action, resource) when { context has principalArn && context.principalArn like "*:role/alice" };
"""
    identities = '[settings]\n[identities]\nU0ALICE01 = "arn:aws:iam::123456789012:role/alice"\n'
    policies = with_cedar(tmp_path, cedar, identities)
    bob = Requester(cast.BOB)
    assert evaluate(policies, bob, COST_CENTRE, timedelta(minutes=15)).outcome == "auto"
    assert evaluate(policies, bob, COST_CENTRE, timedelta(minutes=16)).outcome == "no_policy"
    assert evaluate(policies, bob, COST_CENTRE).outcome == "no_policy"  # no duration: Cedar sees 1h
    alice = evaluate(policies, Requester(cast.ALICE), COST_CENTRE, timedelta(hours=5))
    assert alice.policy is not None and alice.policy.name == "alice-role"


def test_hybrid_nodes_are_managed_instances(tmp_path: Path) -> None:
    cedar = "permit(principal, action, resource is AWS::SSM::ManagedInstance);"
    policies = with_cedar(tmp_path, cedar, "[settings]\n")
    hybrid = Node("mi-0123456789abcdef0", ACCOUNT, "us-east-1")
    assert evaluate(policies, Requester(cast.BOB), hybrid).outcome == "auto"
    assert evaluate(policies, Requester(cast.BOB), COST_CENTRE).outcome == "no_policy"


def test_statements_that_fail_to_evaluate(tmp_path: Path) -> None:
    cedar = """
@id("overflowing-permit")
permit(principal, action, resource) when { context.durationSeconds * 9223372036854775807 > 0 };
@id("overflowing-forbid") @block("all")
forbid(principal, action, resource) when { context.durationSeconds * 9223372036854775807 > 0 };
"""
    policies = with_cedar(tmp_path, cedar, "[settings]\n")
    verdict = evaluate(policies, Requester(cast.BOB), COST_CENTRE)
    assert verdict.outcome == "denied" and verdict.policy is not None
    assert verdict.policy.name == "overflowing-forbid"  # fail closed
    assert any("'overflowing-permit'" in t and "could not be evaluated" in t and "overflow" in t for t in verdict.trace)


# --- errors, each located -----------------------------------------------------------------------------

def errors(tmp_path: Path, cedar: str, toml: str = "[settings]\n") -> list[str]:
    with pytest.raises(PolicyError) as info:
        with_cedar(tmp_path, cedar, toml)
    return info.value.errors


def test_syntax_errors_are_located(tmp_path: Path) -> None:
    cedar = """// header
@id("ok")
permit(principal, action, resource);

@id("broken")
permit(principal in AWS::IdentityStore::Group::"S0ENGINEERS", action, resource)
when { resource.hasTag("x") && };
permt(principal, action, resource);
permit(principal, action, resource) when { "unterminated };
"""
    found = errors(tmp_path, cedar)
    where = "policies.cedar"  # as [settings] cedar_policies names it
    assert found == [f"{where}:7:33: unexpected token `}}`", f"{where}:8:1: invalid policy effect: permt",
                     f"{where}:9:44: invalid token"]


def test_a_missing_semicolon_is_located_at_the_next_statement(tmp_path: Path) -> None:
    found = errors(tmp_path, "permit(principal, action, resource)\nforbid(principal, action, resource);\n")
    assert len(found) == 1 and found[0].endswith("policies.cedar:2:7: unexpected token `(`")


def test_jitna_group_ids_need_identity_center(tmp_path: Path) -> None:
    jitna = """permit (
    principal in AWS::IdentityStore::Group::"e8c17310-e011-7089-d989-10da1EXAMPLE",
    action == AWS::SSM::Action::"getTokenForInstanceAccess",
    resource
) when {
    principal has costCenter && resource.hasTag("CostCenter") &&
    principal.costCenter == resource.getTag("CostCenter")
};"""
    assert errors(tmp_path, jitna) == [
        'policies.cedar:2:45: AWS::IdentityStore::Group::"e8c17310-e011-7089-d989-10da1EXAMPLE" is an IAM Identity '
        "Center group id, but the policy file has no [identity_center] table saying which identity store to read it "
        "from"]
    toml = ('[settings]\n[identity_center]\ninstance_arn = "arn:aws:sso:::instance/ssoins-0123456789abcdef"\n'
            'identity_store_id = "d-0123456789"\nregion = "eu-west-1"\n')
    rules = with_cedar(tmp_path, jitna, toml).cedar
    assert rules is not None and dict(rules.idc_groups) == {
        "e8c17310-e011-7089-d989-10da1EXAMPLE": "policies.cedar:2:45"}


def test_unknown_attributes_are_still_errors(tmp_path: Path) -> None:
    found = errors(tmp_path, 'permit(principal, action, resource) when { principal has badgeColour };')
    assert found == ["policies.cedar:1:58: jitbot gives principal no attribute `badgeColour` (it has: email, "
                     "employeeNumber, costCenter, organization, division), so this statement could never use it"]


def test_unguarded_reads_load_and_decide_closed_when_missing(tmp_path: Path) -> None:
    """AWS's own examples read attributes and tags without ``has``/``hasTag``: they load, and where the value is
    missing the statement cannot be evaluated: a permit then approves nothing, a forbid blocks (fail closed)."""
    cedar = ('@id("mail") permit(principal, action, resource) when { principal.email == "alice@example.com" };\n'
             '@id("team") forbid(principal, action, resource) when { resource.getTag("Team") == "web" };\n')
    rules = with_cedar(tmp_path, cedar)
    alice, nobody = person(cast.ALICE), Requester(cast.OSCAR)
    assert evaluate(rules, alice, seeded("dev-1", Team="db")).policy.name == "mail"  # type: ignore[union-attr]
    verdict = evaluate(rules, nobody, seeded("dev-1", Team="db"))
    assert verdict.outcome != "auto"
    assert any("'mail'" in t and "could not be evaluated" in t for t in verdict.trace), verdict.trace
    blocked = evaluate(rules, alice, seeded("batch"))  # no Team tag: the forbid cannot be evaluated, so it blocks
    assert blocked.outcome != "auto" and any("'team'" in t and "could not be evaluated" in t for t in blocked.trace)


def test_other_actions_are_schema_errors(tmp_path: Path) -> None:
    found = errors(tmp_path, 'permit(principal, action == AWS::SSM::Action::"startSession", resource);')
    assert found and all("policies.cedar:1:" in e for e in found)


def test_annotation_errors(tmp_path: Path) -> None:
    cedar = """@max_duration("5x") @foo("1")
permit(principal, action, resource);
@block("never") forbid(principal, action, resource);
@block("all") permit(principal, action, resource);
@ticket_pattern("(") permit(principal, action, resource);
@id("twice") permit(principal, action, resource);
@id("twice") forbid(principal, action, resource);
"""
    found = [e.split("policies.cedar:", 1)[1] for e in errors(tmp_path, cedar)]
    assert found == [
        "1:1: @foo is not an annotation jitbot knows (use @id, @description, @max_duration, @ticket_pattern on "
        "permit, @block on forbid)",
        "1:1: @max_duration: '5x' is not a duration (use e.g. 90s, 15m, 4h, 1d, 1h30m or PT4H)",
        '3:1: @block must be "auto" or "all", not "never"',
        "4:1: @block applies to forbid statements only",
        "5:1: @ticket_pattern is not a valid regular expression: missing ), unterminated subpattern at position 0",
        "7:1: @id 'twice' is already used at policies.cedar:6:1",
    ]


def test_cedar_names_must_not_clash_with_toml(tmp_path: Path) -> None:
    toml = '[settings]\n[[deny]]\nname = "freeze"\ntargets = "all"\n'
    found = errors(tmp_path, '@id("freeze") permit(principal, action, resource);', toml)
    assert found == ["policies.cedar:1: @id 'freeze' is already the name of a policy in [[deny]]"]


def test_templates_are_refused(tmp_path: Path) -> None:
    found = errors(tmp_path, "\n permit(principal == ?principal, action, resource);")
    assert found == ["policies.cedar:2:2: templates (?principal, ?resource) are not supported; "
                     "name the principal or resource"]


def test_missing_file_and_relative_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policies('[settings]\ncedar_policies = "nope.cedar"\n', str(tmp_path / "p.toml"))
    assert info.value.errors[0].startswith("nope.cedar: cannot read the Cedar file: ")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.cedar").write_text("permit(principal, action, resource);", "utf-8")
    loaded = parse_policies('[settings]\ncedar_policies = "sub/x.cedar"\n', str(tmp_path / "p.toml"))
    assert loaded.cedar is not None and loaded.cedar.permits[0].name == "x.cedar:1"


def test_empty_cedar_file_is_fine(tmp_path: Path) -> None:
    policies = with_cedar(tmp_path, "// nothing yet\n", "[settings]\n")
    assert policies.cedar is not None and not policies.cedar.permits and not policies.cedar.forbids
    assert evaluate(policies, Requester(cast.BOB), COST_CENTRE).outcome == "no_policy"
