"""AWS's published JITNA Cedar examples, pasted unchanged into a ``.cedar`` file, decide as AWS describes them.

The statements are copied as AWS's documentation prints them (the auto-approval page, the deny-access page and the
"statement structure and built-in operators" page), with their comments, their short action name
``AWS::SSM::getTokenForInstanceAccess`` and the missing final semicolon of one of them. Each test evaluates one
example through jitbot's decision (``evaluate``): a permit approves at once, a forbid stops auto-approval (the
request then needs manual approval, as in JITNA). The people are Identity Center users with the attributes and
groups the example names; the IAM example's principal carries tags.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.idc import IdcUser
from core.model import Node
from core.policy import PolicyFile, Requester, evaluate, load_policies

ACCOUNT = "123456789012"
GROUP_E8 = "e8c17310-e011-7089-d989-10da1EXAMPLE"
GROUP_D4 = "d4q81745-r081-7079-d789-14da1EXAMPLE"

AUTO_APPROVAL_PAGE = """permit (
    principal in AWS::IdentityStore::Group::"e8c17310-e011-7089-d989-10da1EXAMPLE",
    action == AWS::SSM::Action::"getTokenForInstanceAccess",
    resource
)
when {
    principal has costCenter && resource.hasTag("CostCenter") && principal.costCenter == resource.getTag("CostCenter")
};

permit (
    principal in AWS::IdentityStore::Group::"d4q81745-r081-7079-d789-14da1EXAMPLE",
    action == AWS::SSM::Action::"getTokenForInstanceAccess",
    resource
)
when {
    principal has organization && resource.hasTag("Engineering") && resource.hasTag("Production") && principal.organization == "Platform"
};

permit (
    principal,
    action == AWS::SSM::Action::"getTokenForInstanceAccess",
    resource
)
when {
    principal has employeeNumber && principal.employeeNumber like "E-1*" && resource.hasTag("Purpose") && resource.getTag("Purpose") == "Testing"
};
"""  # noqa: E501 (as AWS prints it)

DENY_ACCESS_PAGE = """forbid (
    principal in AWS::IdentityStore::Group::"e8c17310-e011-7089-d989-10da1EXAMPLE",
    action == AWS::SSM::Action::"getTokenForInstanceAccess",
    resource
)
when {
    resource.hasTag("Environment") && resource.getTag("Environment") == "Production"
};

forbid (
    principal,
    action == AWS::SSM::Action::"getTokenForInstanceAccess",
    resource
)
when {
    principal has division && principal.division != "Finance" && resource.hasTag("DataClassification") && resource.getTag("DataClassification") == "Financial"
};

forbid (
    principal,
    action == AWS::SSM::Action::"getTokenForInstanceAccess",
    resource
)
when {
    principal has employeeNumber && principal.employeeNumber like "TEMP-*" && resource.hasTag("Criticality") && resource.getTag("Criticality") == "High"
};
"""  # noqa: E501 (as AWS prints it)

COMMENTS = """// Allows users in the Engineering group from the Platform org to automatically connect to nodes tagged with Engineering and Production keys. 
permit (
    principal in AWS::IdentityStore::Group::"d4q81745-r081-7079-d789-14da1EXAMPLE",
    action == AWS::SSM::Action::"getTokenForInstanceAccess",
    resource
)
when {
    principal has organization && resource.hasTag("Engineering") && resource.hasTag("Production") && principal.organization == "Platform"
};
"""  # noqa: E501, W291 (as AWS prints it, trailing space included)

MULTIPLE_CLAUSES = """// Allow access if node has tag where the tag key is Environment 
// & tag value is Development 

permit(principal, action == AWS::SSM::getTokenForInstanceAccess, resource)
when {
    resource.hasTag("Environment") &&
    resource.getTag("Environment") == "Development"
};
"""  # noqa: W291

RESERVED_CHARACTERS = """permit (
    principal,
    action == AWS::SSM::Action::"getTokenForInstanceAccess",
    resource
)
when {
    principal has employeeNumber && principal.employeeNumber like "E-1*" && resource.hasTag("Purpose") && resource.getTag("Purpose") == "Testing"
}
"""  # noqa: E501 (no final semicolon, as AWS prints it)

PRINCIPAL_TAG = """// Users assuming IAM roles with a principal tag of "Elevated" can automatically access nodes tagged with the "Environment" key when the value equals "prod"
permit(principal, action == AWS::SSM::getTokenForInstanceAccess, resource)
when {
    // Verify IAM role principal tag
    context.iam.principalTags.getTag("AccessLevel") == "Elevated" &&
    
    // Verify the node has a tag with "Environment" tag key and a tag value of "prod"
    resource.hasTag("Environment") &&
    resource.getTag("Environment") == "prod"
};
"""  # noqa: E501, W293

CONTRACTOR_DIVISION = """// Identity Center users in the "Contractor" division can automatically access nodes tagged with the "Environment" key when the value equals "dev"
permit(principal, action == AWS::SSM::getTokenForInstanceAccess, resource)
when {
    // Verify that the user is part of the "Contractor" division
    principal.division == "Contractor" &&
    
    // Verify the node has a tag with "Environment" tag key and a tag value of "dev"
    resource.hasTag("Environment") &&
    resource.getTag("Environment") == "dev"
};
"""  # noqa: E501, W293

GROUP_PRODUCTION = """// Identity Center users in a specified group can automatically access nodes tagged with the "Environment" key when the value equals "Production"
permit(principal in AWS::IdentityStore::Group::"d4q81745-r081-7079-d789-14da1EXAMPLE",
    action == AWS::SSM::getTokenForInstanceAccess,
    resource)
when {
    resource.hasTag("Environment") &&
    resource.getTag("Environment") == "Production"
};
"""  # noqa: E501

TOML = """[settings]
cedar_policies = "aws.cedar"

[identity_center]
instance_arn = "arn:aws:sso:::instance/ssoins-0123456789abcdef"
identity_store_id = "d-0123456789"
region = "eu-west-1"

[[manual_approval]]
name = "everything"
targets = "all"
  [[manual_approval.levels]]
  channel = "C0APPROVE"
  approvers = ["U0APPROVER"]
"""


def load(tmp_path: Path, cedar: str) -> PolicyFile:
    (tmp_path / "aws.cedar").write_text(cedar, "utf-8")
    (tmp_path / "policies.toml").write_text(TOML, "utf-8")
    return load_policies(tmp_path / "policies.toml")


def person(groups: tuple[str, ...] = (), **attributes: str) -> Requester:
    """An Identity Center user with these JITNA attributes, in these Identity Store groups."""
    user = IdcUser("90677fa0fb-5513f9a2-9916-4fc2-aec5-0358ce119215", "someone@example.com",
                   attributes=attributes)
    return Requester("U0SOMEONE", idc_user=user, idc_groups=frozenset(groups))


def node(**tags: str) -> Node:
    return Node("i-0123456789abcdef0", ACCOUNT, "eu-west-1", name="n", tags=tags)


def outcome(policies: PolicyFile, requester: Requester, target: Node) -> str:
    return evaluate(policies, requester, target).outcome


# -- the auto-approval page: three permits ---------------------------------------------------------------------
def test_auto_approval_example_matches_the_cost_centre_for_the_group(tmp_path: Path) -> None:
    policies = load(tmp_path, AUTO_APPROVAL_PAGE)
    member = person((GROUP_E8,), costCenter="CC-7")
    assert outcome(policies, member, node(CostCenter="CC-7")) == "auto"
    assert outcome(policies, member, node(CostCenter="CC-8")) == "manual"
    assert outcome(policies, person(costCenter="CC-7"), node(CostCenter="CC-7")) == "manual"  # not in the group


def test_auto_approval_example_lets_the_platform_organisation_on_engineering_production(tmp_path: Path) -> None:
    policies = load(tmp_path, AUTO_APPROVAL_PAGE)
    platform = person((GROUP_D4,), organization="Platform")
    assert outcome(policies, platform, node(Engineering="", Production="")) == "auto"
    assert outcome(policies, platform, node(Engineering="")) == "manual"
    assert outcome(policies, person((GROUP_D4,), organization="Sales"), node(Engineering="", Production="")) == "manual"


def test_auto_approval_example_matches_employee_numbers_on_testing_nodes(tmp_path: Path) -> None:
    policies = load(tmp_path, AUTO_APPROVAL_PAGE)
    assert outcome(policies, person(employeeNumber="E-1042"), node(Purpose="Testing")) == "auto"
    assert outcome(policies, person(employeeNumber="E-2042"), node(Purpose="Testing")) == "manual"
    assert outcome(policies, person(), node(Purpose="Testing")) == "manual"  # no employee number at all


# -- the deny-access page: three forbids, each stopping an auto-approval that would otherwise happen --------------
ALWAYS = 'permit (principal, action == AWS::SSM::Action::"getTokenForInstanceAccess", resource);\n'


def test_deny_access_example_stops_the_group_on_production(tmp_path: Path) -> None:
    policies = load(tmp_path, DENY_ACCESS_PAGE + ALWAYS)
    verdict = evaluate(policies, person((GROUP_E8,)), node(Environment="Production"))
    assert verdict.outcome == "manual" and any("blocks" in str(m.effect) for m in verdict.matched)
    assert outcome(policies, person((GROUP_E8,)), node(Environment="Staging")) == "auto"
    assert outcome(policies, person(), node(Environment="Production")) == "auto"


def test_deny_access_example_keeps_financial_data_to_finance(tmp_path: Path) -> None:
    policies = load(tmp_path, DENY_ACCESS_PAGE + ALWAYS)
    assert outcome(policies, person(division="Engineering"), node(DataClassification="Financial")) == "manual"
    assert outcome(policies, person(division="Finance"), node(DataClassification="Financial")) == "auto"
    assert outcome(policies, person(division="Engineering"), node(DataClassification="Public")) == "auto"


def test_deny_access_example_keeps_temporary_staff_off_critical_nodes(tmp_path: Path) -> None:
    policies = load(tmp_path, DENY_ACCESS_PAGE + ALWAYS)
    assert outcome(policies, person(employeeNumber="TEMP-12"), node(Criticality="High")) == "manual"
    assert outcome(policies, person(employeeNumber="E-12"), node(Criticality="High")) == "auto"
    assert outcome(policies, person(employeeNumber="TEMP-12"), node(Criticality="Low")) == "auto"


# -- the statement-structure page ----------------------------------------------------------------------------------
def test_statement_structure_comment_example(tmp_path: Path) -> None:
    policies = load(tmp_path, COMMENTS)
    assert outcome(policies, person((GROUP_D4,), organization="Platform"), node(Engineering="x", Production="y")) \
        == "auto"
    assert outcome(policies, person(organization="Platform"), node(Engineering="x", Production="y")) == "manual"


def test_statement_structure_multiple_clauses_example(tmp_path: Path) -> None:
    policies = load(tmp_path, MULTIPLE_CLAUSES)
    assert outcome(policies, person(), node(Environment="Development")) == "auto"
    assert outcome(policies, person(), node(Environment="Production")) == "manual"
    assert outcome(policies, Requester("U0SLACKONLY"), node(Environment="Development")) == "auto"


def test_statement_structure_reserved_characters_example(tmp_path: Path) -> None:
    policies = load(tmp_path, RESERVED_CHARACTERS)
    assert outcome(policies, person(employeeNumber="E-1"), node(Purpose="Testing")) == "auto"
    assert outcome(policies, person(employeeNumber="E-9"), node(Purpose="Testing")) == "manual"


def test_statement_structure_principal_tag_example(tmp_path: Path) -> None:
    policies = load(tmp_path, PRINCIPAL_TAG)
    role = Requester("U0ROLE", principal_arn=f"arn:aws:iam::{ACCOUNT}:role/ops",
                     principal_tags={"AccessLevel": "Elevated"})
    assert outcome(policies, role, node(Environment="prod")) == "auto"
    assert outcome(policies, role, node(Environment="dev")) == "manual"
    plain = Requester("U0ROLE", principal_arn=f"arn:aws:iam::{ACCOUNT}:role/ops", principal_tags={"Team": "web"})
    verdict = evaluate(policies, plain, node(Environment="prod"))  # no AccessLevel tag: the statement cannot apply
    assert verdict.outcome == "manual" and any("could not be evaluated" in t for t in verdict.trace)


def test_statement_structure_contractor_division_example(tmp_path: Path) -> None:
    policies = load(tmp_path, CONTRACTOR_DIVISION)
    assert outcome(policies, person(division="Contractor"), node(Environment="dev")) == "auto"
    assert outcome(policies, person(division="Contractor"), node(Environment="prod")) == "manual"
    assert outcome(policies, person(division="Engineering"), node(Environment="dev")) == "manual"
    assert outcome(policies, person(), node(Environment="dev")) == "manual"  # no division: cannot apply


def test_statement_structure_group_example(tmp_path: Path) -> None:
    policies = load(tmp_path, GROUP_PRODUCTION)
    assert outcome(policies, person((GROUP_D4,)), node(Environment="Production")) == "auto"
    assert outcome(policies, person((GROUP_E8,)), node(Environment="Production")) == "manual"


@pytest.mark.parametrize("text", [AUTO_APPROVAL_PAGE, DENY_ACCESS_PAGE, COMMENTS, MULTIPLE_CLAUSES,
                                  RESERVED_CHARACTERS, PRINCIPAL_TAG, CONTRACTOR_DIVISION, GROUP_PRODUCTION])
def test_every_example_names_only_what_policies_check_resolves(tmp_path: Path, text: str) -> None:
    """The Identity Store group ids are left for ``policies check`` to resolve, located where they are named."""
    rules = load(tmp_path, text).cedar
    assert rules is not None
    for group_id, where in rules.idc_groups.items():
        assert group_id in (GROUP_E8, GROUP_D4) and where.startswith("aws.cedar:")


def test_errors_after_the_short_action_name_are_located_in_the_file_as_written(tmp_path: Path) -> None:
    from core.policy import PolicyError

    text = 'permit(principal, action == AWS::SSM::getTokenForInstanceAccess, resource) when { principal has badge };'
    with pytest.raises(PolicyError) as info:
        load(tmp_path, text)
    column = text.index("badge") + 1
    assert info.value.errors == [f"aws.cedar:1:{column}: jitbot gives principal no attribute `badge` (it has: email, "
                                 "employeeNumber, costCenter, organization, division), so this statement could never "
                                 "use it"]
