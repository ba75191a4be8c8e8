"""The people and nodes of the demo (and of the end-to-end tests), consistent with ``policies.toml``."""

from __future__ import annotations

from dataclasses import dataclass

ACCOUNT = "123456789012"

ALICE = "U0ALICE01"  # engineer, role alice
BOB = "U0BOB0001"  # developer, role bob (auto-approved on dev)
CAROL = "U0CAROL01"  # manager
DAVE = "U0DAVE001"  # manager
SAM = "U0SAM0001"  # SRE lead
TINA = "U0TINA001"  # SRE lead
ERIN = "U0ERIN001"  # engineer known by email only, IAM user erin
MALLORY = "U0MALLORY"  # contractor
OSCAR = "U0OSCAR01"  # outsider: in no group, no identity
GHOST = "U0GHOST01"  # deleted Slack user
RITA = "U0RITA001"  # security officer: the revoker of the playground's policy file, in no group
NORA = "U0NORA001"  # data engineer known only to IAM Identity Center (no [identities] entry)

USERS: dict[str, dict[str, str | bool]] = {
    ALICE: {"name": "Alice", "email": "alice@example.com", "title": "Platform engineer"},
    BOB: {"name": "Bob", "email": "bob@example.com", "title": "Developer"},
    CAROL: {"name": "Carol", "email": "carol@example.com", "title": "Engineering manager"},
    DAVE: {"name": "Dave", "email": "dave@example.com", "title": "Engineering manager"},
    SAM: {"name": "Sam", "email": "sam@example.com", "title": "SRE lead"},
    TINA: {"name": "Tina", "email": "tina@example.com", "title": "SRE lead"},
    ERIN: {"name": "Erin", "email": "erin@example.com", "title": "Engineer"},
    MALLORY: {"name": "Mallory", "email": "mallory@contractor.example", "title": "Contractor"},
    OSCAR: {"name": "Oscar", "email": "oscar@example.com", "title": "Visitor"},
    GHOST: {"name": "Ghost", "email": "ghost@example.com", "deleted": True},
    RITA: {"name": "Rita", "email": "rita@example.com", "title": "Security officer"},
    NORA: {"name": "Nora", "email": "nora@example.com", "title": "Data engineer"},
}

GROUPS: dict[str, list[str]] = {
    "S0ENGINEERS": [ALICE, ERIN, MALLORY, SAM, TINA],
    "S0SRELEAD": [SAM, TINA],
    "S0DEVS": [BOB],
    "S0CONTRACT": [MALLORY],
}

ROLES = ["alice", "bob", "mallory", "sam"]
IAM_USERS = ["erin"]


@dataclass(frozen=True)
class NodeSpec:
    name: str
    tags: dict[str, str]


NODES = [
    NodeSpec("web-1", {"Environment": "prod", "Team": "web"}),
    NodeSpec("dev-1", {"Environment": "dev"}),
    NodeSpec("pci-db", {"Environment": "prod", "DataClass": "pci"}),
    NodeSpec("batch", {"Environment": "staging"}),
    NodeSpec("batch", {"Environment": "staging"}),
]


# IAM Identity Center (the demo's last chapter; ``fakes.stack.seed_identity_center`` puts them in moto):
#: the identity store (moto's instance names one of a form AWS never issues, ``d-`` and 10 letters or digits, which
#: ``[identity_center]`` rightly refuses; moto's identity store makes any store it is asked about)
IDC_STORE = "d-90670a1b2c"
#: Identity Store users by user name (their primary email too) → their enterprise-extension attributes
IDC_USERS: dict[str, dict[str, str]] = {
    "nora@example.com": {"employeeNumber": "1042", "costCenter": "CC-data", "division": "Data"},
    "carol@example.com": {"employeeNumber": "0007", "division": "Engineering"},
}
#: Identity Store groups by DisplayName → their members' user names
IDC_GROUPS: dict[str, list[str]] = {
    "data-engineers": ["nora@example.com"],
    "data-leads": ["carol@example.com"],
}
#: the node that the demo's Identity Center policy covers
DATA_NODE = NodeSpec("data-1", {"Environment": "analytics", "Team": "data"})

# On call (the demo's PagerDuty chapter; ``fakes.pagerduty.FakePagerDuty`` answers for the schedule):
#: the PagerDuty schedule whose on-call person the demo's auto-approval names (``P`` and six letters or digits)
ONCALL_SCHEDULE = "POPS001"
#: the node that the demo's on-call auto-approval covers (no other policy of ``policies.toml`` names its tags)
ONCALL_NODE = NodeSpec("ops-1", {"Environment": "ops", "Team": "sre"})
