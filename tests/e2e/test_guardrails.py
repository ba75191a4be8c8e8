"""Guard rails over signed HTTP: requesters on every policy kind, ticket_pattern, max_active_grants; Cedar
statements deciding real requests (profiles from the fake Slack, tags from moto); ``/jit explain``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.model import State
from fakes import cast
from fakes.stack import REPO_POLICIES, Stack
from tests.helpers import request

BASE = REPO_POLICIES.read_text("utf-8")


def rid_of(answer: str) -> str:
    found = re.search(r"\*(R[0-9A-Z]{8})\*", answer)
    assert found, answer
    return found.group(1)


def test_requesters_restrict_every_policy_kind(stack: Stack) -> None:
    # deny: contractors-off-pci names S0CONTRACT only
    assert "denied by policy 'contractors-off-pci'" in stack.slash(cast.MALLORY, "request pci-db 1h audit")
    assert "Waiting for level 1" in stack.slash(cast.ALICE, "request pci-db 1h audit")
    # auto-approval: dev-self-service names S0DEVS only; others fall through to manual approval
    assert "granted" in stack.slash(cast.BOB, "request dev-1 30m migration")
    assert "Waiting for level 1" in stack.slash(cast.ALICE, "request dev-1 30m migration")
    # manual approval: production names S0ENGINEERS; it does not fall back to 'everything-else'
    answer = stack.slash(cast.BOB, "request web-1 1h look at logs")
    assert "Policy 'production' covers web-1" in answer and "does not list you as a requester" in answer
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        assert [r.node.name for r in uow.repo.by_requester(cast.BOB)] == ["dev-1"]


# dev-self-service (at most 1 live request under it) on every node, so that its cap shows on a node other than the
# first: one live request per person and node refuses a second one on the same node before any cap is counted
RAILS = BASE.replace("[settings]\n", "[settings]\nmax_active_grants = 2\n", 1).replace(
    'default_duration = "1h"\n', 'default_duration = "1h"\nticket_pattern = "CHG-[0-9]+"\n', 1).replace(
    'max_duration = "8h"\n', 'max_duration = "8h"\nmax_active_grants = 1\n', 1).replace(
    'targets = { tags = { Environment = "dev" } }\n', 'targets = "all"\n', 1)


def test_ticket_pattern_and_max_active_grants(stack_factory: Any) -> None:
    stack: Stack = stack_factory(RAILS)
    assert ("Policy 'production' needs a ticket matching `CHG-[0-9]+`: add ticket=&lt;id&gt; to your request."
            in stack.slash(cast.ALICE, "request web-1 1h deploy hotfix"))
    assert ("Ticket 'JIRA-7' does not match `CHG-[0-9]+` (required by policy 'production')."
            in stack.slash(cast.ALICE, "request web-1 1h deploy hotfix ticket=JIRA-7"))
    assert "Ticket 'CHG-12x'" in stack.slash(cast.ALICE, "request web-1 1h deploy hotfix ticket=CHG-12x")
    submitted = stack.slash(cast.ALICE, "request web-1 1h deploy hotfix ticket=CHG-12")
    assert "Waiting for level 1" in submitted and request(stack, rid_of(submitted)).ticket == "CHG-12"

    first = rid_of(stack.slash(cast.BOB, "request dev-1 30m migration"))
    assert request(stack, first).state is State.ACTIVE
    batch = stack.nodes["batch"]
    answer = stack.slash(cast.BOB, f"request {batch} 30m second migration")
    assert ("You already have 1 request pending or active under policy 'dev-self-service', which allows 1 at a "
            f"time (max_active_grants). Release or cancel one first: {first}.") in answer
    # [settings] max_active_grants = 2 counts under every policy: Alice's web-1 (production), dev-1 (everything-else)
    pending = rid_of(stack.slash(cast.ALICE, "request dev-1 20m rerun the batch"))
    answer = stack.slash(cast.ALICE, f"request {batch} 20m rerun again")
    assert ("You already have 2 requests pending or active, and at most 2 are allowed at a time ([settings] "
            "max_active_grants)") in answer and rid_of(submitted) in answer and pending in answer
    stack.slash(cast.ALICE, f"cancel {pending}")
    assert "Waiting for level 1" in stack.slash(cast.ALICE, f"request {batch} 20m rerun again")
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        assert len(uow.repo.by_requester(cast.BOB)) == 1
        assert len(uow.repo.by_requester(cast.ALICE)) == 3


CEDAR = """
@id("sre-staging-with-incident")
@max_duration("30m")
@ticket_pattern("INC-[0-9]+")
permit (principal in AWS::IdentityStore::Group::"S0SRELEAD", action, resource)
when { context.hasTicket && resource.hasTag("Environment") && resource.getTag("Environment") == "staging" };

@id("no-auto-approval-for-temporary-staff")
forbid (principal in AWS::IdentityStore::Group::"S0CONTRACT", action, resource);
"""

ENGINEERS_ON_DEV = """
[[auto_approval]]
name = "engineers-on-dev"
requesters = ["S0ENGINEERS"]
targets = { tags = { Environment = "dev" } }
"""


def test_cedar_decides_real_requests_and_explain_says_why(stack_factory: Any, tmp_path: Path) -> None:
    (tmp_path / "policies.cedar").write_text(CEDAR, "utf-8")
    text = BASE.replace("[settings]\n", '[settings]\ncedar_policies = "policies.cedar"\n', 1) + ENGINEERS_ON_DEV
    stack: Stack = stack_factory(text)
    batch = stack.nodes["batch"]
    granted = stack.slash(cast.SAM, f"request {batch} 20m fix the cron ticket=INC-7")
    assert "granted" in granted
    assert request(stack, rid_of(granted)).policy == "sre-staging-with-incident"
    # one live request per person and node: end this one before asking for the node again
    assert "has ended" in stack.slash(cast.SAM, f"release {rid_of(granted)}")
    assert "does not match `INC-[0-9]+`" in stack.slash(cast.SAM, f"request {batch} 20m fix the cron ticket=X-1")
    assert "Waiting for level 1" in stack.slash(cast.SAM, f"request {batch} 20m no ticket this time")
    # Mallory is in the contractors' group: no auto-approval, manual approval still possible
    assert "granted" in stack.slash(cast.ALICE, "request dev-1 30m tests")
    assert "Waiting for level 1" in stack.slash(cast.MALLORY, "request dev-1 30m tests")

    explained = stack.slash(cast.MALLORY, "explain dev-1")
    assert explained.startswith("*If Mallory (U0MALLORY) asks for dev-1")
    assert "Cedar forbid 'no-auto-approval-for-temporary-staff'" in explained
    assert "would approve at once, but 'no-auto-approval-for-temporary-staff' blocks it" in explained
    assert "1. On-call SRE: 1 approval from Sam, Tina (group S0SRELEAD), asked in channel C0SREAPPR." in explained
    assert "<" not in explained.replace("&lt;", "").replace("&gt;", "")  # everything escaped, nothing pings
    assert "Which node?" in stack.slash(cast.SAM, "explain")
    assert "then an optional duration" in stack.slash(cast.SAM, "explain web-1 soon please")
    assert "for 9h" in stack.slash(cast.SAM, "explain web-1 9h") and "nosuch" in stack.slash(cast.SAM, "explain nosuch")


def test_one_live_request_per_person_and_node(stack_factory: Any) -> None:
    stack: Stack = stack_factory(BASE + '\n[breakglass]\nrequesters = ["U0ALICE01"]\nmax_duration = "30m"\n')
    first = stack.slash(cast.ALICE, "request web-1 1h look at the logs")
    assert "Waiting for level 1" in first
    rid = rid_of(first)
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        trail = len(uow.repo.events())
    answer = stack.slash(cast.ALICE, "request web-1 2h look again")
    assert answer == (f":warning: Your request {rid} for web-1 is already waiting for approval. To ask differently, "
                      f"cancel it first: `/jit cancel {rid}`.")
    with stack.runtime.ctx.uow() as uow:  # nothing recorded: no request, no audit event
        assert [r.id for r in uow.repo.by_requester(cast.ALICE)] == [rid] and len(uow.repo.events()) == trail
    assert "Waiting for level 1" in stack.slash(cast.ALICE, "request dev-1 1h another node")  # another node
    # break-glass, the emergency path, is not held up by the pending request
    assert "granted until" in stack.slash(cast.ALICE, "breakglass web-1 20m the site is down")
    assert request(stack, rid).state is State.PENDING
