"""Every refusal of a request says the same thing through the request form (a view_submission over signed HTTP,
the message on the form field it belongs to) and through the slash command (the ephemeral answer): both go
through ``core.checks.check``. Among them, the two on which the form used to accept what the submission then
refused: ``max_active_grants``, and a Cedar rule reading ``context.hasTicket``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fakes import cast
from fakes.stack import REPO_POLICIES, Stack
from handlers import ids
from handlers.text import escape
from tests.e2e import slack_steps as slack

CEDAR = """
@id("sre-staging-with-incident")
@max_duration("30m")
@ticket_pattern("INC-[0-9]+")
permit (principal in AWS::IdentityStore::Group::"S0SRELEAD", action, resource)
when { context.hasTicket && resource.hasTag("Environment") && resource.getTag("Environment") == "staging" };
"""

# production needs a ticket; two live requests at most per person; dev-self-service caps continuous access at
# 90m; 'everything-else' needs two SRE leads (so an SRE lead's own request there could never be approved)
POLICIES = (REPO_POLICIES.read_text("utf-8")
            .replace("[settings]\n", '[settings]\nmax_active_grants = 2\nrevokers = ["U0CAROL01"]\n'
                     'cedar_policies = "policies.cedar"\n', 1)
            .replace('default_duration = "1h"\n', 'default_duration = "1h"\nticket_pattern = "CHG-[0-9]+"\n', 1)
            .replace('max_duration = "8h"\nmax_continuous = "12h"', 'max_duration = "1h"\nmax_continuous = "90m"', 1))
POLICIES = POLICIES[: POLICIES.rindex("required = 1")] + "required = 2\n"


def _rid(answer: str) -> str:
    found = re.search(r"\*(R[0-9A-Z]{8})\*", answer)
    assert found, answer
    return found.group(1)


def _form(stack: Stack, user: str, node: dict[str, Any] | None, duration: str | None, reason: str,
          ticket: str | None = None, extends: str | None = None) -> tuple[str, str]:
    """Submit the request form as ``user``; the one field error: (block, message)."""
    meta = json.dumps({"extends": extends}) if extends else ""
    view = {"id": "V1", "private_metadata": meta, "blocks": [{"block_id": ids.DURATION_BLOCK}]}
    found = slack.errors(slack.submit(stack, user, view, node=node, duration=duration, reason=reason, ticket=ticket))
    [(block, message)] = found.items()
    return block, message


def _requests(stack: Stack) -> int:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return sum(len(uow.repo.by_requester(user, limit=1000)) for user in cast.USERS)


def test_every_refusal_says_the_same_in_the_form_and_the_command(stack_factory: Any, tmp_path: Path) -> None:
    (tmp_path / "policies.cedar").write_text(CEDAR, "utf-8")
    stack: Stack = stack_factory(POLICIES)
    batch = stack.nodes["batch"]
    option = {name: slack.options(stack, cast.ALICE, {"id": "V1"}, ref)[0]
              for name, ref in (("web-1", "web-1"), ("dev-1", "dev-1"), ("pci-db", "pci-db"), ("batch", batch))}
    ghost = {"text": {"type": "plain_text", "text": "ghost"},
             "value": option["web-1"]["value"].rsplit("/", 1)[0] + "/i-00000000deadbeef0"}
    # the state the refusals need: Mallory holds two live requests, Erin one on web-1, Bob active access on dev-1
    # (60 of its 90 continuous minutes used), Tina is locked out
    for text in ("request dev-1 1h first", f"request {batch} 1h second"):
        assert "Waiting for level 1" in stack.slash(cast.MALLORY, text)
    erin = _rid(stack.slash(cast.ERIN, "request web-1 1h first ticket=CHG-1"))
    bob = _rid(stack.slash(cast.BOB, "request dev-1 1h migration"))
    assert "is locked out" in stack.slash(cast.CAROL, f"lockout <@{cast.TINA}> test")
    before = _requests(stack)

    R = ids.REASON_BLOCK
    N, D, T = ids.NODE_BLOCK, ids.DURATION_BLOCK, ids.TICKET_BLOCK
    long_reason = "r" * 1001
    # (who, slash command, form values, the form field, the message)
    table: list[tuple[str, str, dict[str, Any], str, str]] = [
        (cast.ALICE, f"request dev-1 1h {long_reason}", dict(node=option["dev-1"], duration="1h", reason=long_reason),
         R, "The reason is 1001 characters long; keep it under 1000."),
        (cast.ALICE, f"request dev-1 1h x ticket={'T' * 101}",
         dict(node=option["dev-1"], duration="1h", reason="x", ticket="T" * 101),
         T, "The ticket is 101 characters long; keep it under 100."),
        (cast.GHOST, "request dev-1 1h x", dict(node=option["dev-1"], duration="1h", reason="x"),
         N, "Your Slack account cannot request access."),
        (cast.TINA, "request dev-1 1h x", dict(node=option["dev-1"], duration="1h", reason="x"),
         N, "You are locked out of jitbot"),
        (cast.OSCAR, "request dev-1 1h x", dict(node=option["dev-1"], duration="1h", reason="x"),
         N, "[identities]"),
        (cast.ALICE, "request dev-1 5x x", dict(node=option["dev-1"], duration="5x", reason="x"),
         D, "'5x' is not a duration (use e.g. 90s, 15m, 4h, 1d, 1h30m or PT4H)"),
        (cast.ALICE, f"request {ghost['value']} 1h x", dict(node=ghost, duration="1h", reason="x"),
         N, "i-00000000deadbeef0"),
        (cast.MALLORY, "request pci-db 1h x", dict(node=option["pci-db"], duration="1h", reason="x"),
         N, "is denied by policy 'contractors-off-pci'."),
        (cast.BOB, "request web-1 1h x", dict(node=option["web-1"], duration="1h", reason="x"),
         N, "Policy 'production' covers web-1"),
        (cast.ALICE, "request web-1 9h x", dict(node=option["web-1"], duration="9h", reason="x"),
         D, "9h is more than policy 'production' allows (at most 4h)."),
        (cast.ALICE, "request web-1 1h x", dict(node=option["web-1"], duration="1h", reason="x"),
         T, "Policy 'production' needs a ticket matching `CHG-[0-9]+`: add ticket=<id> to your request."),
        (cast.ALICE, "request web-1 1h x ticket=JIRA-7",
         dict(node=option["web-1"], duration="1h", reason="x", ticket="JIRA-7"),
         T, "Ticket 'JIRA-7' does not match `CHG-[0-9]+` (required by policy 'production')."),
        # Cedar's context.hasTicket: with a ticket, the permit decides, and its ticket_pattern applies
        (cast.SAM, f"request {batch} 20m x ticket=X-1",
         dict(node=option["batch"], duration="20m", reason="x", ticket="X-1"),
         T, "Ticket 'X-1' does not match `INC-[0-9]+` (required by policy 'sre-staging-with-incident')."),
        (cast.ERIN, "request web-1 1h again ticket=CHG-2",
         dict(node=option["web-1"], duration="1h", reason="again", ticket="CHG-2"),
         N, f"Your request {erin} for web-1 is already waiting for approval."),
        (cast.MALLORY, "request web-1 1h x ticket=CHG-3",
         dict(node=option["web-1"], duration="1h", reason="x", ticket="CHG-3"),
         N, "You already have 2 requests pending or active, and at most 2 are allowed at a time"),
        (cast.SAM, "request dev-1 1h x", dict(node=option["dev-1"], duration="1h", reason="x"),
         N, "This request could never be approved: level 1 ('On-call SRE') of policy 'everything-else' needs 2"),
        # extensions: the form of the Extend button (its request in private_metadata) and /jit extend
        (cast.BOB, f"extend {bob} 1h more", dict(node=None, duration="1h", reason="more", extends=bob),
         D, "would make 2h of continuous access, more than the 1h 30m policy 'dev-self-service' allows"),
        (cast.ALICE, f"extend {bob} 30m mine", dict(node=None, duration="30m", reason="mine", extends=bob),
         D, f"Only the requester of {bob} can extend it."),
        (cast.ERIN, f"extend {erin} 30m more", dict(node=None, duration="30m", reason="more", extends=erin),
         D, f"Request {erin} is pending; only active access can be extended."),
        (cast.BOB, "extend RZZZZZZZZ 30m more", dict(node=None, duration="30m", reason="more", extends="RZZZZZZZZ"),
         D, "There is no request RZZZZZZZZ."),
    ]
    for who, text, values, field, expected in table:
        answer = stack.slash(who, text)
        block, message = _form(stack, who, **values)
        assert answer == f":warning: {escape(message)}", (text, answer, message)
        assert expected in message, (text, message)
        assert block.startswith(field), (text, block, field)
    assert _requests(stack) == before
