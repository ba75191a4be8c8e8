"""Revocation lag on the whole bot (signed HTTP, fake Slack, moto, SQLite), in three situations:

1. precise: each grant's own APScheduler job revokes it at ``expires_at``;
2. sweep only: the precise jobs are lost (disarmed), the periodic sweep catches the grants;
3. restart: jitbot is down when the grants expire and starts again ``--down`` seconds later; the scheduler,
   rebuilt from the database, revokes every overdue grant at once.

Lag = the moment the ``jitbot-<id>`` inline policy is seen gone from moto (polled every 20 ms) minus the
grant's ``expires_at`` (for the restart, also minus the moment the bot started again). Prints figures, asserts
nothing. Complements bench/revocation_lag.py (10,000 grants, scheduler precision, bursts).

    python bench/restart_lag.py [--grants 6] [--window 6] [--sweep-seconds 2] [--down 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fakes import cast  # noqa: E402
from fakes.stack import Stack  # noqa: E402

POLICIES = """
[settings]
audit_channel = "C0AUDIT01"
expiry_warning = "0"
[identities]
U0BOB0001 = "arn:aws:iam::123456789012:role/bob"
[[auto_approval]]
name = "dev-self-service"
requesters = ["S0DEVS"]
targets = { tags = { Environment = "dev" } }
max_duration = "1h"
"""


class PolicyWatch:
    """Polls moto for BOB's ``jitbot-*`` policies and notes when each one was first seen gone."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.present: set[str] = set()
        self.gone: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PolicyWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        iam = self.stack.aws.client("iam")
        while not self._stop.is_set():
            names = set(iam.list_role_policies(RoleName="bob")["PolicyNames"])
            now = time.time()
            for name in self.present - names:
                self.gone.setdefault(name.removeprefix("jitbot-"), now)
            self.present |= names
            self._stop.wait(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def grant_all(stack: Stack, n: int, window: int) -> dict[str, float]:
    """n auto-approved grants asked at once (signed slash commands); request id → expires_at (epoch seconds)."""
    assert stack.runtime is not None and stack.sim is not None
    sim, ctx = stack.sim, stack.runtime.ctx
    with ctx.uow() as uow:
        before = {r.id for r in uow.repo.by_requester(cast.BOB, limit=10_000)}
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: sim.command(cast.BOB, f"request dev-1 {window}s bench"), range(n)))
    deadline = time.time() + 60
    while True:
        with ctx.uow() as uow:
            new = [r for r in uow.repo.by_requester(cast.BOB, limit=10_000) if r.id not in before]
        if (len(new) >= n and all(r.expires_at for r in new)) or time.time() > deadline:
            return {r.id: r.expires_at.timestamp() for r in new if r.expires_at}
        time.sleep(0.05)


def wait_gone(watch: PolicyWatch, ids: list[str], timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not all(rid in watch.gone for rid in ids):
        time.sleep(0.05)


def figures(label: str, lags: list[float]) -> str:
    if not lags:
        return f"{label:44s} no revocation seen"
    ordered = sorted(lags)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"{label:44s} n={len(lags):3d}  p50 {statistics.median(lags) * 1000:7.0f} ms  "
            f"p95 {p95 * 1000:7.0f} ms  max {max(lags) * 1000:7.0f} ms")


def run(args: argparse.Namespace) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), policies=POLICIES, database_url=args.database_url,
                                                     sweep_seconds=args.sweep_seconds) as stack:
        watch = PolicyWatch(stack).start()
        try:
            expiries = grant_all(stack, args.grants, args.window)
            wait_gone(watch, list(expiries), args.window + 30)
            lines.append(figures("1. precise job", [watch.gone[r] - e for r, e in expiries.items() if r in watch.gone]))

            expiries = grant_all(stack, args.grants, args.window)
            assert stack.runtime is not None and stack.runtime.scheduler is not None
            for rid in expiries:
                stack.runtime.scheduler.disarm(rid)
            wait_gone(watch, list(expiries), args.window + args.sweep_seconds + 30)
            lines.append(figures(f"2. sweep only (every {args.sweep_seconds:g} s)",
                                 [watch.gone[r] - e for r, e in expiries.items() if r in watch.gone]))

            expiries = grant_all(stack, args.grants, args.window)
            stack.shutdown_bot()
            time.sleep(max(0.0, max(expiries.values()) - time.time()) + args.down)
            booted = time.time()
            stack.boot()
            ready = time.time()
            wait_gone(watch, list(expiries), 30)
            lines.append(figures(f"3. restart, down {args.down:g} s after the last expiry",
                                 [watch.gone[r] - e for r, e in expiries.items() if r in watch.gone]))
            lines.append(figures("   the same, measured from the restart",
                                 [watch.gone[r] - booted for r in expiries if r in watch.gone]))
            lines.append(f"{'   (the bot took to boot)':44s} {(ready - booted) * 1000:7.0f} ms")
        finally:
            watch.stop()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=6)
    parser.add_argument("--window", type=int, default=6, help="access window of each grant, seconds")
    parser.add_argument("--sweep-seconds", type=float, default=2.0)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--down", type=float, default=3.0, help="seconds the bot stays down after the last expiry")
    args = parser.parse_args(argv)
    print(f"Revocation lag (policy gone from moto minus expires_at), {args.grants} grants per case, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    for line in run(args):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
