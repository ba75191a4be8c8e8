"""CPU per call of the store adapter (store.uow): the unit of work the bot opens a dozen times per click.

Profiles of the other benchmarks put SQLAlchemy under half of the bot's CPU; this isolates the calls the use
cases make (each in its own ``SqlUnitOfWork``, as core does) on SQLite, timed in process CPU time, so the
figures hold on a busy machine too.

    python bench/store_ops.py [--calls N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import benchlib
from benchlib import scratch, show

from core.model import (
    AccessRequest,
    AuditEvent,
    Changes,
    Decision,
    Expect,
    Kind,
    LevelSnapshot,
    MessageRef,
    Node,
    State,
)
from store.engine import create_session_factory, make_engine
from store.migrate import upgrade
from store.uow import SqlUnitOfWork

NOW = datetime.now(UTC)
NODE = Node("i-0123456789abcdef0", "123456789012", "us-east-1", "web-1", {"Environment": "prod"}, "Online", "Linux")
LEVELS = (LevelSnapshot("SRE lead", "C0SREAPPR", ("S0SRELEAD",), 1),
          LevelSnapshot("Manager", "C0MGRAPPR", ("U0CAROL01", "U0DAVE001"), 2))


def request(n: int) -> AccessRequest:
    return AccessRequest(id=f"RS{n:07d}", requester="U0ALICE01", principal_arn="arn:aws:iam::123456789012:role/alice",
                         node=NODE, reason="disk full on /var", duration=timedelta(hours=1), policy="production",
                         kind=Kind.MANUAL, levels=LEVELS, state=State.ACTIVE, created_at=NOW, current_level=2,
                         granted_at=NOW, expires_at=NOW + timedelta(hours=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (20 calls): checks that it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.calls = 20
    started = benchlib.banner("Store adapter, CPU per call (SQLite)")
    workdir = scratch("store")
    url = f"sqlite:///{workdir / 'jitbot.db'}"
    upgrade(url)
    sessions = create_session_factory(make_engine(url))
    n = args.calls

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions)

    def add(i: int) -> None:
        with uow() as u:
            u.repo.add(request(i))
            u.commit()

    def transition(i: int) -> None:  # core.context.transition: a conditional update and its audit event
        with uow() as u:
            u.repo.move(request(i), State.EXPIRED, Changes(ended_at=NOW, needs_cleanup=True, lease_until=None),
                        expect=Expect(lease_free_at=NOW))
            u.repo.add_event(AuditEvent(f"RS{i:07d}", NOW, "jitbot", "expired", {"from": "active", "to": "expired"}))
            u.commit()

    def get(i: int) -> None:
        with uow() as u:
            u.repo.get(f"RS{i:07d}")

    def decide(i: int) -> None:
        with uow() as u:
            u.repo.add_decision(Decision(f"RS{i:07d}", 0, "U0SAM0001", True, NOW))
            u.repo.decisions(f"RS{i:07d}")
            u.commit()

    def message(i: int) -> None:
        with uow() as u:
            u.repo.add_message(MessageRef(f"RS{i:07d}", "level-0", "C0SREAPPR", f"{i}.000100"))
            u.commit()

    def refs(i: int) -> None:
        with uow() as u:
            u.repo.messages(f"RS{i:07d}")

    def events(i: int) -> None:
        with uow() as u:
            u.repo.events(f"RS{i:07d}")

    def mine(i: int) -> None:
        with uow() as u:
            u.repo.by_requester("U0ALICE01", [State.PENDING, State.APPROVED, State.ACTIVE], limit=10)

    steps: list[tuple[str, Callable[[int], None]]] = [
        ("add a request + commit", add), ("get a request", get), ("decision + read decisions + commit", decide),
        ("message ref upsert + commit", message), ("read message refs", refs),
        ("conditional update + audit event + commit", transition), ("read a request's audit events", events),
        ("by_requester (10 newest live)", mine)]
    rows = []
    for name, step in steps:
        step_started = time.process_time()
        for i in range(n):
            step(i)
        rows.append([name, n, f"{(time.process_time() - step_started) / n * 1000:.3f}"])
    shutil.rmtree(workdir, ignore_errors=True)
    show("Store adapter: CPU per unit of work (ms, process time)", ["unit of work", "calls", "CPU ms each"], rows)
    benchlib.footer(started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
