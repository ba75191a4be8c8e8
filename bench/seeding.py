"""Grants for the benchmarks: a store seeded with active grants, an in-process AccessBackend that answers at
once, and helpers that put and watch inline policies in moto's backend (from the fakes' process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from benchlib import Fakes

PRINCIPALS = {  # the demo's people and the IAM principals policies.toml maps them to
    "U0ALICE01": "arn:aws:iam::123456789012:role/alice",
    "U0BOB0001": "arn:aws:iam::123456789012:role/bob",
    "U0SAM0001": "arn:aws:iam::123456789012:role/sam",
    "U0MALLORY": "arn:aws:iam::123456789012:role/mallory",
    "U0ERIN001": "arn:aws:iam::123456789012:user/erin",
}


def seed_grants(database_url: str, expiries: Sequence[Any], node_id: str, *, warned_before: Any = None,
                batch: int = 1000, people: Sequence[tuple[str, str]] | None = None) -> list[str]:
    """Create the schema, then one active grant per ``expiries`` entry (the store's rows, ``store.convert``,
    inserted ``batch`` at a time in a ``SqlUnitOfWork``), on the node ``node_id`` under the demo's policy
    "production"; returns their ids in order. Grants expiring before ``warned_before`` are marked as already
    warned (their warning time has passed). ``people``: (Slack user, principal ARN) taking the grants in turn
    (default: the demo's people)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from core.model import AccessRequest, Kind, LevelSnapshot, Node, State
    from store.convert import request_columns
    from store.engine import create_session_factory, make_engine
    from store.migrate import upgrade
    from store.models import RequestRow
    from store.uow import SqlUnitOfWork

    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = create_session_factory(engine)
    node = Node(node_id, "123456789012", "us-east-1", "web-1", {"Environment": "prod", "Team": "web"},
                "Online", "Linux")
    levels = (LevelSnapshot("SRE lead", "C0SREAPPR", ("S0SRELEAD",), 1),
              LevelSnapshot("Manager", "C0MGRAPPR", ("U0CAROL01", "U0DAVE001"), 2))
    people = list(people or PRINCIPALS.items())
    now = datetime.now(UTC)
    ids: list[str] = []
    for start in range(0, len(expiries), batch):
        rows = []
        for n, expires in enumerate(expiries[start:start + batch], start):
            requester, principal = people[n % len(people)]
            granted = min(now, expires) - timedelta(hours=1)
            rid = f"RB{n:07d}"
            rows.append(request_columns(AccessRequest(
                id=rid, requester=requester, principal_arn=principal, node=node, reason=f"bench grant {n}",
                duration=expires - granted, policy="production", kind=Kind.MANUAL, levels=levels,
                state=State.ACTIVE, created_at=granted - timedelta(minutes=5), current_level=2,
                granted_at=granted, expires_at=expires,
                warned=warned_before is not None and expires < warned_before)))
            ids.append(rid)
        with SqlUnitOfWork(sessions) as uow:  # the store's own rows, inserted many at a time
            uow.session.execute(insert(RequestRow), rows)
            uow.commit()
    engine.dispose()
    return ids


class InstantAws:
    """An in-process AccessBackend and NodeDirectory that answers at once and notes when each grant's policy
    was deleted (``revoked``: request id → time.time()). For measuring the scheduler, not AWS."""

    def __init__(self, stack: Any = None) -> None:
        self.revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def resolve(self, reference: str) -> Any:
        from core.errors import NotFound

        raise NotFound(f"no node {reference} in this benchmark")

    def search(self, text: str, limit: int = 100) -> list[Any]:
        return []

    def tagged(self, key: str, value: str, *, prefix: str | None = None, limit: int = 100) -> list[Any]:
        return []

    def grant(self, request: Any, expires_at: Any, documents: Sequence[str]) -> None:
        return None

    def revoke(self, request: Any) -> int:
        with self._lock:
            self.revoked.setdefault(request.id, time.time())
        return 0

    def has_grant(self, request: Any) -> bool:
        return request.id not in self.revoked

    def jit_policies(self, principal_arn: str) -> list[str]:
        return []

    def delete_policy(self, principal_arn: str, policy_name: str) -> None:
        return None


def put_policies_directly(fakes: Fakes, grants: Sequence[tuple[str, str]]) -> None:
    """(Fakes process) attach inline policies ``(principal ARN, policy name)`` straight into moto's IAM backend:
    setup, not measured (through moto's HTTP server each costs tens of milliseconds)."""
    import json

    from moto.iam.models import iam_backends

    backend = iam_backends[fakes.aws.account]["aws"]
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:StartSession", "Resource": "*"}]})
    for principal, name in grants:
        kind, _, who = principal.split(":")[5].partition("/")
        put = backend.put_role_policy if kind == "role" else backend.put_user_policy
        put(who, name, document)


def count_policies(fakes: Fakes, principals: Sequence[str]) -> int:
    """(Fakes process) how many ``jitbot-*`` inline policies the principals carry in moto."""
    from moto.iam.models import iam_backends

    backend = iam_backends[fakes.aws.account]["aws"]
    total = 0
    for principal in principals:
        kind, _, who = principal.split(":")[5].partition("/")
        names = backend.list_role_policies(who) if kind == "role" else backend.list_user_policies(who)
        total += sum(1 for name in names if name.startswith("jitbot-"))
    return total


def watch_policies(fakes: Fakes, grants: Sequence[tuple[str, str]], interval: float = 0.05) -> None:
    """(Fakes process) note, every ``interval`` s, when each of these inline policies disappears from moto's IAM
    (read in moto's backend, not through its HTTP server, so the watch costs the bot nothing)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[fakes.aws.account]["aws"]
    left = {name: principal for principal, name in grants}
    gone: dict[str, float] = {}
    fakes.deleted = gone  # type: ignore[attr-defined]

    def watch() -> None:
        while left:
            present: set[str] = set()
            for principal in set(left.values()):
                kind, _, who = principal.split(":")[5].partition("/")
                present.update(backend.list_role_policies(who) if kind == "role" else backend.list_user_policies(who))
            now = time.time()
            for name in [n for n in left if n not in present]:
                gone[name] = now
                del left[name]
            time.sleep(interval)

    threading.Thread(target=watch, name="policy-watch", daemon=True).start()


def policy_deletions(fakes: Fakes) -> dict[str, float]:
    """(Fakes process) policy name → when ``watch_policies`` saw it gone."""
    return dict(getattr(fakes, "deleted", {}))


def revocation_times(stack: Any, request_ids: Sequence[str]) -> dict[str, float]:
    """(Bot process) when ``InstantAws`` deleted each request's policy."""
    noted = stack.runtime.ctx.access.revoked
    return {rid: noted[rid] for rid in request_ids if rid in noted}


def scheduler_running(stack: Any) -> bool:
    """(Bot process) whether the scheduler has started (its jobs armed from the store)."""
    scheduler = stack.runtime.scheduler if stack.runtime is not None else None
    return bool(scheduler is not None and scheduler.running)


def scheduled_jobs(stack: Any) -> int:
    """(Bot process) jobs armed in APScheduler."""
    scheduler = stack.runtime.scheduler
    return len(scheduler._scheduler.get_jobs()) if scheduler is not None else 0
