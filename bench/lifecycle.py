"""Lifecycle throughput: complete cycles per second through the running server and its fakes.

A cycle: ``/jit request bench-web-i 1s …`` by person i (a distinct requester on a node of their own:
bench/workload.py; policy "production": an SRE lead, then two managers), the three Approve clicks over signed HTTP,
the grant (an inline IAM policy in moto), the 1-second window, the expiry fired by the scheduler, the revocation
(policy deleted, sessions ended) confirmed in the store. N people run cycles back to back. Every answer must be the
one a successful step gives and every cycle must complete, or the run is invalid (exit 1).

    python bench/lifecycle.py [--quick | --smoke]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

import benchlib
import workload
from benchlib import Deployment, Spread, StateReader, Users, in_parallel, show
from workload import Validity

from handlers import ids

WINDOW = 1.0  # seconds of access per cycle (the shortest duration a policy allows)
TARGET = 15.0  # complete cycles/s with 25 people (SQLite), 0 incomplete
TARGET_AT = 25
REVOKED_WITHIN = 60.0
HEADERS = ["people", "cycles", "incomplete", "wall s", "cycles/s", "to grant p50 s", "cycle p50 s", "cycle p99 s",
           "cycle p50 minus window s", "bot CPU ms per cycle", "target"]


def cycle(users: Users, reader: StateReader, i: int, label: str, validity: Validity) -> tuple[float, float] | None:
    """Person i's full cycle: (seconds from the command to access granted, seconds to revocation confirmed), or
    None when a step did not give the expected answer (noted in ``validity``)."""
    started = time.perf_counter()
    status, _ = users.command(workload.person(i), f"request {workload.node(i)} 1s lifecycle {label}")
    text = users.answer() if validity.status("/jit request", status) else None
    found = validity.answer("/jit request", text, workload.SUBMITTED) if status == 200 else None
    if not found:
        return None
    rid = found.group(1)
    steps = ((workload.SRE_LEADS[i % 2], workload.SRE_CHANNEL, "Approve, level 1", workload.level_one_done(rid)),
             (workload.MANAGERS[0], workload.MANAGER_CHANNEL, "Approve, 1st manager", workload.manager_one(rid)),
             (workload.MANAGERS[1], workload.MANAGER_CHANNEL, "Approve, 2nd manager", workload.granted(rid)))
    for approver, channel, what, expected in steps:
        status, _ = users.click(approver, ids.APPROVE, rid, channel)
        text = users.answer() if validity.status(what, status) else None
        if status != 200 or not validity.answer(what, text, expected):
            return None
    granted = time.perf_counter() - started
    deadline = time.monotonic() + REVOKED_WITHIN
    state = "?"
    while time.monotonic() < deadline:
        state, cleanup = reader.states([rid]).get(rid, ("missing", False))
        if state == "expired" and not cleanup:
            return granted, time.perf_counter() - started
        time.sleep(0.1)
    validity.bad("revocation", f"not confirmed within {REVOKED_WITHIN:g} s (state {state})")
    return None


def run(target: Any, users: Users, reader: StateReader, clients: int, seconds: float,
        validity: Validity, judged: bool = True) -> list[object]:
    """``clients`` people running cycles back to back for ``seconds`` against ``target`` (``pids``, ``fakes``);
    ``judged``: against the target (SQLite's), at 25 people."""
    times: list[tuple[float, float]] = []
    incomplete = 0
    lock = threading.Lock()
    cpu = benchlib.total_cpu(target.pids)
    begun = time.perf_counter()

    def person(i: int) -> None:
        nonlocal incomplete
        n = 0
        while time.perf_counter() - begun < seconds:
            outcome = cycle(users, reader, i, f"{clients}.{n}", validity)
            n += 1
            with lock:
                if outcome is None:
                    incomplete += 1
                else:
                    times.append(outcome)
            if outcome is None:
                return  # this person's node may still be live: stop, the run is invalid anyway

    in_parallel(clients, person)
    wall = time.perf_counter() - begun
    cpu = benchlib.total_cpu(target.pids) - cpu
    users.reset()
    target.fakes.call(benchlib.clear_slack)
    validity.count(f"{clients} people: incomplete cycles", incomplete)
    to_grant = Spread.of([g for g, _ in times])
    whole = Spread.of([t for _, t in times])
    rate = len(times) / wall
    verdict = ("met" if rate >= TARGET and not incomplete else "MISSED") if judged and clients == TARGET_AT else "-"
    print(f"  {clients} people: {len(times)} cycles in {wall:.1f} s; load {benchlib.load()}", flush=True)
    return [clients, len(times), incomplete, f"{wall:.1f}", f"{rate:.2f}", f"{to_grant.p50:.2f}",
            f"{whole.p50:.2f}", f"{whole.p99:.2f}", f"{whole.p50 - WINDOW:.2f}",
            f"{cpu / max(1, len(times)) * 1000:.0f}", verdict]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the workload, not the figures")
    parser.add_argument("--clients", type=int, nargs="*", default=[1, 10, 25])
    args = parser.parse_args(argv)
    seconds = 10.0 if args.quick else 20.0
    if args.smoke:
        args.clients, seconds = [2], 2.0
    started = benchlib.banner("Lifecycle throughput (request, 2-level approval, grant, expiry, revocation)")
    validity = Validity("lifecycle")
    with Deployment(people=max(args.clients), sweep_seconds=5.0) as deployment:
        users = deployment.users()
        reader = StateReader(deployment.database_url)
        try:
            if cycle(users, reader, 0, "warm-up", validity) is None:
                validity.bad("warm-up", "the first cycle did not complete")
            rows = [run(deployment, users, reader, clients, seconds, validity) for clients in args.clients]
        finally:
            users.close()
            reader.close()
    show(f"Complete cycles through the server ({WINDOW:g} s access window each; fakes answer at once; target at "
         f"{TARGET_AT} people: >= {TARGET:g} cycles/s, 0 incomplete)", HEADERS, rows)
    benchlib.footer(started)
    return validity.verdict()


if __name__ == "__main__":
    sys.exit(main())
