"""Acknowledgement latency of ``/jit request`` and of an Approve click, over signed HTTP.

The bot runs on its fakes (fake Slack Web API, moto, SQLite, waitress) in a child process; this process plays
Slack: N concurrent people each send a signed delivery, time the HTTP response (the ack Slack waits for, at most
3 s), then wait for the bot's answer on their response_url before their next one. Twice: with the fakes
answering at once, and with every Slack and AWS call (response_url included) answered after 200 ms.

    python bench/ack_latency.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import benchlib
from benchlib import REQUEST_ID, Deployment, Spread, Users, in_parallel, ms, show, verdict

from fakes import cast
from handlers import ids

TARGET = 0.050  # p99 of the ack, seconds
SLACK_LIMIT = 3.0
CONCURRENCY = (1, 10, 50)


@dataclass
class Sample:
    acks: list[float] = field(default_factory=list)
    #: the acks of each person's first delivery: all of them sent at the same instant
    first: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    failures: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, ack: float, answer: float | None, text: str = "", first: bool = False) -> None:
        with self.lock:
            if first and status == 200:
                self.first.append(ack)
            if status != 200 or answer is None:
                self.failures += 1
                self.reasons[f"HTTP {status}" if status != 200 else f"answer: {text[:60]!r}"] += 1
            if status == 200:
                self.acks.append(ack)
            if answer is not None:
                self.answers.append(answer)


def _person(deployment: Deployment, users: Users, ops: int, label: str, submitted: Sample,
            approved: Sample) -> Callable[[int], None]:
    """One simulated person: ``/jit request``, then the SRE lead's Approve click on it, ``ops`` times over."""
    approvers = (cast.SAM, cast.TINA)

    def person(i: int) -> None:
        for n in range(ops):
            started = time.perf_counter()
            status, ack = users.command(cast.ALICE, f"request web-1 1h bench {label}.{i}.{n}")
            text = users.answer() if status == 200 else ""
            found = REQUEST_ID.search(text)
            submitted.add(status, ack, time.perf_counter() - started if found else None, text, first=n == 0)
            if not found:
                continue
            started = time.perf_counter()
            status, ack = users.click(approvers[i % 2], ids.APPROVE, found.group(0), "C0SREAPPR")
            text = users.answer() if status == 200 else ""
            approved.add(status, ack, time.perf_counter() - started if "Approved" in text else None, text,
                         first=n == 0)
            deployment.bot.call(benchlib.close_pending, [found.group(0)])

    return person


def run(delay: float, ops: dict[int, int], levels: tuple[int, ...] = CONCURRENCY,
        listener_workers: int | None = None, http_threads: int | None = None) -> list[list[object]]:
    rows: list[list[object]] = []
    settings = {"http_threads": http_threads} if http_threads else None
    with Deployment(sweep_seconds=5.0, listener_workers=listener_workers, settings=settings) as deployment:
        print(f"  bot process: pid {deployment.bot.pid}; fakes: pid {deployment.fakes.pid}", flush=True)
        users = Users(deployment.url, deployment.secret)
        try:
            deployment.fakes.call(benchlib.set_delay, delay)
            users.set_delay(delay)
            _person(deployment, users, 2, "warm-up", Sample(), Sample())(0)  # caches, auth.test
            for clients in levels:
                per_client = max(1, ops.get(clients, 4 * clients) // clients)
                users.reset()
                deployment.fakes.call(benchlib.clear_slack)
                submitted, approved = Sample(), Sample()
                cpu = benchlib.cpu_seconds(deployment.bot.pid)
                in_parallel(clients, _person(deployment, users, per_client, f"c{clients}", submitted, approved))
                cpu = (benchlib.cpu_seconds(deployment.bot.pid) - cpu) / max(1, len(approved.answers))
                for name, sample in (("/jit request", submitted), ("Approve click", approved)):
                    if sample.reasons:
                        print(f"  {name} failures: {dict(sample.reasons)}", file=sys.stderr, flush=True)
                    ack = Spread.of(sample.acks)
                    answer = Spread.of(sample.answers)
                    rows.append([f"{delay * 1000:.0f} ms", name, clients, ack.n, ms(ack.p50), ms(ack.p99),
                                 ms(ack.max), ms(max(sample.first, default=float("nan"))),
                                 f"{sum(a > SLACK_LIMIT for a in sample.acks)}", sample.failures,
                                 ms(answer.p50), ms(answer.p99), f"{cpu * 1000:.0f}", verdict(ack.p99, TARGET)])
                print(f"  fakes after {delay * 1000:.0f} ms, {clients} client(s): done; load {benchlib.load()}",
                      flush=True)
        finally:
            users.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations per level")
    parser.add_argument("--clients", type=int, nargs="*", default=list(CONCURRENCY), help="concurrency levels")
    parser.add_argument("--delays", type=float, nargs="*", default=[0.0, 0.2], help="fake latencies, seconds")
    parser.add_argument("--bolt-default-pool", action="store_true",
                        help="give Bolt its default pool of 5 listener workers (the figures before the fix)")
    parser.add_argument("--http-threads", type=int, help="waitress threads (HTTP_THREADS; default 16)")
    args = parser.parse_args(argv)
    ops = {1: 10, 10: 50, 50: 100} if args.quick else {1: 20, 10: 100, 50: 200}
    started = benchlib.banner("Acknowledgement latency (signed HTTP, SQLite)"
                              + (" - Bolt's default listener pool (before)" if args.bolt_default_pool else ""))
    workers = 5 if args.bolt_default_pool else None
    rows = [row for delay in args.delays for row in run(delay, ops, tuple(args.clients), workers, args.http_threads)]
    show("Ack latency, ms (target: p99 < 50 ms; Slack's limit 3,000 ms)",
         ["Slack/AWS answer after", "operation", "clients", "n", "ack p50", "ack p99", "ack max",
          "max of 1st wave", "acks > 3 s", "failed", "answer p50", "answer p99", "bot CPU ms per pair", "target"],
         rows)
    benchlib.footer(started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
