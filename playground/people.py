"""Who is in the playground and what the page calls things: the demo's cast, its channels and user groups."""

from __future__ import annotations

from fakes import cast
from fakes.stack import REPO_POLICIES

#: the "you are" switcher: who, and what they can do with the playground's policy file
PEOPLE: list[tuple[str, str]] = [
    (cast.ALICE, "requester: production needs an SRE lead, then two managers"),
    (cast.SAM, "approver, level 1 (SRE lead)"),
    (cast.TINA, "approver, level 1 (SRE lead)"),
    (cast.CAROL, "approver, level 2 (manager)"),
    (cast.DAVE, "approver, level 2 (manager)"),
    (cast.BOB, "developer: dev nodes are approved at once"),
    (cast.ERIN, "engineer, an IAM user known by email"),
    (cast.MALLORY, "contractor: denied on PCI nodes"),
    (cast.OSCAR, "outsider: in no group, no AWS identity"),
    (cast.RITA, "revoker: may revoke anything, lock people out"),
]
CHANNEL_NAMES = {"C0SREAPPR": "sre-approvals", "C0MGRAPPR": "manager-approvals", "C0AUDIT01": "jit-audit"}
GROUP_NAMES = {"S0ENGINEERS": "engineers", "S0SRELEAD": "sre-leads", "S0DEVS": "developers",
               "S0CONTRACT": "contractors"}


def playground_policies() -> str:
    """The demo's policy file, with Rita as the revoker."""
    text = REPO_POLICIES.read_text("utf-8")
    return text.replace("[settings]\n", f'[settings]\nrevokers = ["{cast.RITA}"]\n', 1)
