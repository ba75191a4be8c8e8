"""Acknowledgement latency of ``/jit request`` and of an Approve click, over signed HTTP, next to the floor.

The bot runs on its fakes (fake Slack Web API, moto, SQLite, waitress) in a child process; this process plays
Slack: N people at once, each a distinct requester asking for a node of their own (bench/workload.py), send
``/jit request``, time the HTTP response (the ack Slack waits for, at most 3 s), wait for the bot's answer on
their response_url, click Approve as an SRE lead (timed the same way), then cancel the request with ``/jit cancel``
(not timed) so that the backlog stays the same, and start again. Every answer must be the one a successful
operation gives, or the run is invalid (exit 1). Twice: with the fakes answering at once, and with every Slack
and AWS call (response_url included) answered after 200 ms.

The floor (bench/floor.py: a bare Bolt app on waitress answering ack() only) is driven by the same people at the
same concurrency, with the same deliveries and, between them, jitbot's median answer time at that level (so the
offered load is the same), right after jitbot's level in the same run; the ratio column divides jitbot's p99 by
the floor's.

    python bench/ack_latency.py [--quick | --smoke]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import benchlib
import workload
from benchlib import Child, Deployment, Spread, Users, in_parallel, ms, show, verdict
from floor import floor_setup
from workload import Validity

from handlers import ids

TARGET = 0.050  # p99 of the ack, seconds
FLOOR_RATIO = 2.0  # jitbot's ack p99 at most twice the floor's ...
RATIO_AT = 50  # ... at 50 people (shown at every level, judged at this one)
SLACK_LIMIT = 3.0
CONCURRENCY = (1, 10, 50)
HEADERS = ["Slack/AWS answer after", "operation", "clients", "n", "ack p50", "ack p99", "ack max", "max of 1st wave",
           "acks > 3 s", "failed", "answer p50", "answer p99", "floor p99", "p99 / floor", "bot CPU ms per cycle",
           "target"]


@dataclass
class Sample:
    acks: list[float] = field(default_factory=list)
    #: the acks of each person's first delivery: all of them sent at the same instant
    first: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ack: float | None, answer: float | None, first: bool) -> None:
        with self.lock:
            if ack is not None:
                self.acks.append(ack)
                if first:
                    self.first.append(ack)
            if answer is None:
                self.failures += 1
            else:
                self.answers.append(answer)

    def missed(self, n: int) -> None:
        with self.lock:
            self.failures += n


def person_loop(users: Users, ops: int, label: str, submitted: Sample, approved: Sample,
                validity: Validity) -> Callable[[int], None]:
    """Person i: ``ops`` times ``/jit request bench-web-i``, the SRE lead's Approve, ``/jit cancel``. Stops at the
    first unexpected outcome (the rest of its operations count as failed)."""

    def person(i: int) -> None:
        who, where, approver = workload.person(i), workload.node(i), workload.SRE_LEADS[i % 2]
        for n in range(ops):
            started = time.perf_counter()
            status, ack = users.command(who, f"request {where} 1h bench {label}.{n}")
            text = users.answer() if validity.status("/jit request", status) else None
            found = validity.answer("/jit request", text, workload.SUBMITTED) if status == 200 else None
            submitted.add(ack if status == 200 else None, time.perf_counter() - started if found else None, n == 0)
            if not found:
                submitted.missed(ops - n - 1)
                approved.missed(ops - n)
                return
            rid = found.group(1)
            started = time.perf_counter()
            status, ack = users.click(approver, ids.APPROVE, rid, workload.SRE_CHANNEL)
            text = users.answer() if validity.status("Approve", status) else None
            done = validity.answer("Approve", text, workload.level_one_done(rid)) if status == 200 else None
            approved.add(ack if status == 200 else None, time.perf_counter() - started if done else None, n == 0)
            status, _ = users.command(who, f"cancel {rid}")  # housekeeping: the backlog stays the same
            text = users.answer() if validity.status("/jit cancel", status) else None
            if not (done and status == 200 and validity.answer("/jit cancel", text, workload.cancelled(rid))):
                submitted.missed(ops - n - 1)
                approved.missed(ops - n - 1)
                return

    return person


def floor_loop(users: Users, ops: int, gap: float, submitted: Sample, approved: Sample,
               validity: Validity) -> Callable[[int], None]:
    """The same deliveries to the floor, ``gap`` seconds apart (jitbot's median answer time at that level)."""

    def person(i: int) -> None:
        who, where, approver = workload.person(i), workload.node(i), workload.SRE_LEADS[i % 2]
        for n in range(ops):
            status, ack = users.command(who, f"request {where} 1h floor {n}")
            ok = validity.status("floor /jit request", status)
            submitted.add(ack if ok else None, 0.0 if ok else None, n == 0)
            time.sleep(gap)
            status, ack = users.click(approver, ids.APPROVE, f"RFLOOR{n:03d}", workload.SRE_CHANNEL)
            ok = validity.status("floor Approve", status)
            approved.add(ack if ok else None, 0.0 if ok else None, n == 0)
            time.sleep(gap)

    return person


@dataclass
class Level:
    """One concurrency level's figures: jitbot's two samples, the bot's CPU per cycle, the floor's samples."""

    clients: int
    submitted: Sample
    approved: Sample
    cpu: float
    floor: tuple[Sample, Sample] | None = None


def measure(target: Any, users: Users, clients: int, per_client: int, label: str, validity: Validity) -> Level:
    """N people at once against ``target`` (``url``, ``secret``, ``pids``, ``fakes``)."""
    users.reset()
    target.fakes.call(benchlib.clear_slack)
    submitted, approved = Sample(), Sample()
    cpu = benchlib.total_cpu(target.pids)
    in_parallel(clients, person_loop(users, per_client, label, submitted, approved, validity))
    cpu = (benchlib.total_cpu(target.pids) - cpu) / max(1, len(approved.answers))
    validity.count(f"{label}: /jit request failed", submitted.failures)
    validity.count(f"{label}: Approve failed", approved.failures)
    return Level(clients, submitted, approved, cpu)


def measure_floor(floor: Users, clients: int, per_client: int, level: Level, validity: Validity) -> None:
    answers = level.submitted.answers + level.approved.answers
    gap = statistics.median(answers) if answers else 0.01
    submitted, approved = Sample(), Sample()
    in_parallel(clients, floor_loop(floor, per_client, gap, submitted, approved, validity))
    level.floor = (submitted, approved)


def rows(delay: float, level: Level, floor: Level | None) -> list[list[object]]:
    out: list[list[object]] = []
    floors = floor.floor if floor is not None and floor.floor is not None else (None, None)
    for name, sample, base in (("/jit request", level.submitted, floors[0]), ("Approve click", level.approved,
                                                                               floors[1])):
        ack, answer = Spread.of(sample.acks), Spread.of(sample.answers)
        floor_p99 = Spread.of(base.acks).p99 if base is not None else math.nan
        ratio = ack.p99 / floor_p99 if floor_p99 == floor_p99 and floor_p99 > 0 else math.nan
        judged = verdict(ack.p99, TARGET)
        if level.clients >= RATIO_AT and ratio == ratio and ratio > FLOOR_RATIO:
            judged = "MISSED (ratio)" if judged == "met" else "MISSED"
        out.append([f"{delay * 1000:.0f} ms", name, level.clients, ack.n, ms(ack.p50), ms(ack.p99), ms(ack.max),
                    ms(max(sample.first, default=math.nan)), f"{sum(a > SLACK_LIMIT for a in sample.acks)}",
                    sample.failures, ms(answer.p50), ms(answer.p99), ms(floor_p99),
                    "-" if ratio != ratio else f"{ratio:.1f}", f"{level.cpu * 1000:.0f}", judged])
    return out


def run(delay: float, ops: dict[int, int], levels: Sequence[int], floors: dict[int, Level], validity: Validity,
        listener_workers: int | None = None, http_threads: int | None = None) -> list[list[object]]:
    """jitbot at each level (and, with the fakes answering at once, the floor right after each level)."""
    out: list[list[object]] = []
    settings = {"http_threads": http_threads} if http_threads else None
    people = max(levels)
    with Deployment(people=people, sweep_seconds=5.0, listener_workers=listener_workers,
                    settings=settings) as deployment, \
            Child(floor_setup, slack_url=deployment.fakes.info["slack_url"]) as floor:
        print(f"  bot process: pid {deployment.bot.pid}; fakes: pid {deployment.fakes.pid}; floor: pid {floor.pid}",
              flush=True)
        users = deployment.users()
        floor_users = Users(floor.info["url"], floor.info["secret"], benchlib.receiver())  # the floor only acks
        try:
            deployment.fakes.call(benchlib.set_delay, delay)
            users.set_delay(delay)
            person_loop(users, 2, "warm-up", Sample(), Sample(), validity)(0)  # caches, auth.test
            floor_loop(floor_users, 2, 0.0, Sample(), Sample(), validity)(0)
            for clients in levels:
                per_client = max(1, ops.get(clients, 4 * clients) // clients)
                level = measure(deployment, users, clients, per_client, f"{delay * 1000:.0f} ms, {clients} people",
                                validity)
                if delay == 0:
                    measure_floor(floor_users, clients, per_client, level, validity)
                    floors[clients] = level
                out += rows(delay, level, floors.get(clients))
                print(f"  fakes after {delay * 1000:.0f} ms, {clients} client(s): done; load {benchlib.load()}",
                      flush=True)
        finally:
            users.close()
            floor_users.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations per level")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the workload, not the figures")
    parser.add_argument("--clients", type=int, nargs="*", default=list(CONCURRENCY), help="concurrency levels")
    parser.add_argument("--delays", type=float, nargs="*", default=[0.0, 0.2], help="fake latencies, seconds")
    parser.add_argument("--bolt-default-pool", action="store_true",
                        help="give Bolt its default pool of 5 listener workers (the figures before the fix)")
    parser.add_argument("--http-threads", type=int, help="waitress threads (HTTP_THREADS; default 16)")
    args = parser.parse_args(argv)
    ops = {1: 10, 10: 50, 50: 100} if args.quick else {1: 20, 10: 100, 50: 200}
    if args.smoke:
        args.clients, args.delays, ops = [1, 3], [0.0], {1: 2, 3: 6}
    started = benchlib.banner("Acknowledgement latency (signed HTTP, SQLite)"
                              + (" - Bolt's default listener pool (before)" if args.bolt_default_pool else ""))
    validity = Validity("ack latency")
    workers = 5 if args.bolt_default_pool else None
    floors: dict[int, Level] = {}
    table = [row for delay in sorted(args.delays)
             for row in run(delay, ops, args.clients, floors, validity, workers, args.http_threads)]
    show("Ack latency, ms (targets: p99 < 50 ms; at 50 people at most 2x the bare Bolt floor's p99; Slack's limit "
         "3,000 ms)",
         HEADERS, table)
    benchlib.footer(started)
    return validity.verdict()


if __name__ == "__main__":
    sys.exit(main())
