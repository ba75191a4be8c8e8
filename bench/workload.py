"""The benchmarks' people, and the check that a run measured what it says.

Each simulated person is a distinct requester (``U0BN00000``, ``U0BN00001`` …, engineers with their own IAM role
``bench-00000`` …) asking for a node of their own (``bench-web-00000`` …, tagged like web-1: policy "production",
an SRE lead then two managers). The bot allows one live request per person and node and counts a person at one
level of a request at most, so people sharing a requester or a node would measure refusals, not requests. Every
answer is checked against what a successful operation answers; anything else makes the run invalid
(``Validity``): it prints why and exits non-zero, and its figures do not count.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import REPO

ACCOUNT = "123456789012"
NODE_TAGS = {"Environment": "prod", "Team": "web"}
#: the approvers of policy "production" (none of them is a bench person, so none is ever excluded)
SRE_LEADS = ("U0SAM0001", "U0TINA001")
MANAGERS = ("U0CAROL01", "U0DAVE001")
SRE_CHANNEL, MANAGER_CHANNEL = "C0SREAPPR", "C0MGRAPPR"


def person(i: int) -> str:
    return f"U0BN{i:05d}"


def role(i: int) -> str:
    return f"bench-{i:05d}"


def principal(i: int) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{role(i)}"


def node(i: int) -> str:
    return f"bench-web-{i:05d}"


def policies_text(people: int, base: Path | None = None) -> str:
    """The repository's policies.toml with an identity for each bench person (added under ``[identities]``)."""
    text = (base or REPO / "policies.toml").read_text("utf-8")
    lines = "".join(f'{person(i)} = "{principal(i)}"\n' for i in range(people))
    head, found, tail = text.partition("\n[identities]")
    if not found:
        raise RuntimeError("policies.toml has no [identities] table to add the bench people to")
    first, newline, rest = tail.partition("\n")
    return f"{head}\n[identities]{first}{newline}{lines}{rest}"


def seed_people(fakes: Any, people: int) -> dict[str, str]:
    """(Fakes process) the bench people in the fake Slack (members of S0ENGINEERS), their roles and their nodes
    in moto; returns node name → instance id."""
    from fakes import cast

    ids = [person(i) for i in range(people)]
    for i, user in enumerate(ids):
        fakes.slack.add_user(user, email=f"bench{i}@example.com", name=f"Bench {i}", title="Engineer")
    fakes.slack.add_group("S0ENGINEERS", [*cast.GROUPS["S0ENGINEERS"], *ids])
    nodes = {}
    for i in range(people):
        fakes.aws.create_role(role(i))
        nodes[node(i)] = fakes.aws.add_instance(name=node(i), tags=NODE_TAGS)
    return nodes


# --- what a successful operation answers ----------------------------------------------------------------

SUBMITTED = re.compile(r"^Request \*(R[0-9A-HJKMNP-TV-Z]{8})\* for .* submitted under policy 'production'\. "
                       r"Waiting for level 1 of 2")


def level_one_done(rid: str) -> re.Pattern[str]:
    return re.compile(r"^Approved\. Level 1 is complete; level 2 ")


def manager_one(rid: str) -> re.Pattern[str]:
    return re.compile(r"^Approved\. Level 2 \('Manager'\) still needs 1 ")


def granted(rid: str) -> re.Pattern[str]:
    return re.compile(rf"^Approved\. Request {rid} is fully approved and access was granted\.")


def cancelled(rid: str) -> re.Pattern[str]:
    return re.compile(rf"^Request \*{rid}\* is cancelled\.")


class Validity:
    """Everything a run met that a valid workload never meets: HTTP statuses other than 200, answers other than
    the expected one (a refusal, an error), answers that never came, incomplete cycles. Thread-safe."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self._lock = threading.Lock()

    def bad(self, what: str, detail: str) -> None:
        key = f"{what}: {detail[:90]}"
        with self._lock:
            self.problems[key] += 1

    def status(self, what: str, status: int) -> bool:
        """True when the ack is a 200; otherwise noted."""
        if status == 200:
            return True
        self.bad(what, f"HTTP {status}")
        return False

    def answer(self, what: str, text: str | None, expected: re.Pattern[str]) -> re.Match[str] | None:
        """The match of the expected answer; otherwise the answer (or its absence) is noted."""
        found = expected.search(text) if text is not None else None
        if found is None:
            self.bad(what, "no answer" if text is None else f"unexpected answer {text!r}")
        return found

    def count(self, what: str, failed: int) -> None:
        """A figure column (failed, incomplete) that must be zero."""
        if failed:
            self.bad(what, f"{failed} (must be 0)")

    def merge(self, other: Validity) -> None:
        with self._lock:
            self.problems.update(other.problems)

    @property
    def valid(self) -> bool:
        return not self.problems

    def verdict(self) -> int:
        """Print the verdict; 0 when valid, 1 otherwise (the exit code)."""
        if self.valid:
            print(f"\nworkload check ({self.name}): valid, every operation answered as expected", flush=True)
            return 0
        total = sum(self.problems.values())
        print(f"\nworkload check ({self.name}): INVALID, {total} unexpected outcome(s); these figures do not count:",
              flush=True)
        for key, n in self.problems.most_common(20):
            print(f"  {n} x {key}", flush=True)
        print(f"INVALID WORKLOAD ({self.name})", file=sys.stderr, flush=True)
        return 1
