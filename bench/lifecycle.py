"""Lifecycle throughput: complete cycles per second through the running server and its fakes.

A cycle: ``/jit request web-1 1s …`` (policy "production": an SRE lead, then two managers), the three Approve
clicks over signed HTTP, the grant (an inline IAM policy in moto), the 1-second window, the expiry fired by the
scheduler, the revocation (policy deleted, sessions ended) confirmed in the store. N people run cycles back to back.

    python bench/lifecycle.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import benchlib
from benchlib import REQUEST_ID, Deployment, Spread, Users, in_parallel, show

from fakes import cast
from handlers import ids

WINDOW = 1.0  # seconds of access per cycle (the shortest duration a policy allows)
STEPS = ((cast.SAM, "C0SREAPPR", "level 2"), (cast.CAROL, "C0MGRAPPR", "1 more approval"),
         (cast.DAVE, "C0MGRAPPR", "access was granted"))


def cycle(deployment: Deployment, users: Users, label: str) -> tuple[float, float] | str:
    """One full cycle; (seconds from the command to access granted, seconds to revocation confirmed), or why
    it did not complete."""
    started = time.perf_counter()
    status, _ = users.command(cast.ALICE, f"request web-1 1s lifecycle {label}")
    found = REQUEST_ID.search(users.answer()) if status == 200 else None
    if not found:
        return f"request: HTTP {status}"
    rid = found.group(0)
    for approver, channel, expected in STEPS:
        status, _ = users.click(approver, ids.APPROVE, rid, channel)
        text = users.answer() if status == 200 else f"HTTP {status}"
        if expected not in text:
            return f"{approver}: {text[:60]}"
    granted = time.perf_counter() - started
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state, cleanup = deployment.bot.call(benchlib.request_states, [rid])[rid]
        if state == "expired" and not cleanup:
            return granted, time.perf_counter() - started
        time.sleep(0.2)  # polling the bot's store costs the bot CPU: not too often
    return f"not revoked within 60 s (state {state})"


def run(deployment: Deployment, users: Users, clients: int, seconds: float) -> list[object]:
    times: list[tuple[float, float]] = []
    failures: list[str] = []
    lock = threading.Lock()
    cpu = benchlib.cpu_seconds(deployment.bot.pid)
    begun = time.perf_counter()

    def person(i: int) -> None:
        n = 0
        while time.perf_counter() - begun < seconds:
            outcome = cycle(deployment, users, f"{clients}.{i}.{n}")
            n += 1
            with lock:
                if isinstance(outcome, str):
                    failures.append(outcome)
                else:
                    times.append(outcome)

    in_parallel(clients, person)
    wall = time.perf_counter() - begun
    cpu = benchlib.cpu_seconds(deployment.bot.pid) - cpu
    users.reset()
    deployment.fakes.call(benchlib.clear_slack)
    if failures:
        print(f"  {clients} people: {len(failures)} incomplete cycle(s), e.g. {failures[:3]}", file=sys.stderr)
    to_grant = Spread.of([g for g, _ in times])
    whole = Spread.of([t for _, t in times])
    print(f"  {clients} people: {len(times)} cycles in {wall:.1f} s; load {benchlib.load()}", flush=True)
    return [clients, len(times), len(failures), f"{wall:.1f}", f"{len(times) / wall:.2f}",
            f"{to_grant.p50:.2f}", f"{whole.p50:.2f}", f"{whole.p99:.2f}", f"{whole.p50 - WINDOW:.2f}",
            f"{cpu / max(1, len(times)) * 1000:.0f}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--clients", type=int, nargs="*", default=[1, 10, 25])
    args = parser.parse_args(argv)
    seconds = 10.0 if args.quick else 20.0
    started = benchlib.banner("Lifecycle throughput (request, 2-level approval, grant, expiry, revocation)")
    with Deployment(sweep_seconds=5.0) as deployment:
        users = Users(deployment.url, deployment.secret)
        try:
            cycle(deployment, users, "warm-up")
            rows = [run(deployment, users, clients, seconds) for clients in args.clients]
        finally:
            users.close()
    show(f"Complete cycles through the server ({WINDOW:g} s access window each; fakes answer at once)",
         ["people", "cycles", "incomplete", "wall s", "cycles/s", "to grant p50 s", "cycle p50 s", "cycle p99 s",
          "cycle p50 minus window s", "bot CPU ms per cycle"], rows)
    benchlib.footer(started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
