"""Revocation lag with 10,000 active grants in the store: (policy deleted - expires_at).

1. Precision of the scheduler: 1,000 of the 10,000 grants expire spread evenly over one minute, then 1,000 more
   all in the same second. The bot is the real one (composition root, APScheduler jobs rebuilt from the store, the
   sweep every 5 s, notices to the fake Slack); only the AccessBackend is an in-process fake that answers at once
   and notes when each policy is deleted, so the figures are jitbot's own.
2. A burst against moto: 1,000 of 10,000 grants expire in the same second; the real AwsGateway deletes each
   inline policy from moto and ends the sessions; measured to the moment each policy is gone from moto.

The grants are seeded straight into the store (store.uow) before the bot starts, as if it were restarted with
them. For comparison: sso-elevator schedules each revocation with EventBridge Scheduler, precise to a minute.

    python bench/revocation_lag.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import benchlib
import seeding
from benchlib import Child, Spread, scratch, show, verdict
from seeding import PRINCIPALS
from workload import Validity

GRANTS = 10_000
EXPIRING = 1_000
MOTO_WAIT = 120.0  # seconds after the burst to wait for moto's policies to go


def _wait_armed(bot: Child, timeout: float = 120.0) -> float:
    """Seconds until the scheduler runs (it arms the grants' jobs from the store before it starts)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout and not bot.call(seeding.scheduler_running):
        time.sleep(0.2)
    return time.perf_counter() - started


def _collect(bot: Child, ids: Sequence[str], deadline: float) -> dict[str, float]:
    found: dict[str, float] = {}
    while time.time() < deadline:
        found = bot.call(seeding.revocation_times, list(ids))
        if len(found) == len(ids):
            break
        time.sleep(0.5)
    return found


def _row(label: str, ids: Sequence[str], expiries: Sequence[datetime], done: dict[str, float],
         target: float | None, cpu: float, validity: Validity | None = None) -> list[object]:
    lags = [done[rid] - expires.timestamp() for rid, expires in zip(ids, expiries, strict=True) if rid in done]
    if validity is not None:
        validity.count(f"{label}: grants not revoked", len(ids) - len(lags))
    spread = Spread.of(lags)
    mine = [done[rid] for rid in ids if rid in done]
    last = max(mine) - min(e.timestamp() for e in expiries) if mine else float("nan")
    return [label, len(ids), len(lags), f"{spread.p50 * 1000:.0f}", f"{spread.p99 * 1000:.0f}",
            f"{spread.max * 1000:.0f}", f"{last:.2f}", sum(1 for lag in lags if lag > 1.0),
            f"{cpu / max(len(lags), 1) * 1000:.1f}",
            "-" if target is None else (verdict(spread.p99, target) if label.startswith("spread") else
                                        verdict(last, target))]


def scheduler_precision(fakes: Child, spread_seconds: float, lead: float, validity: Validity,
                        total: int = GRANTS, expiring: int = EXPIRING, gap: float = 5.0) -> list[list[object]]:
    """``expiring`` of ``grants`` spread over ``spread_seconds``, then as many in one second, with the instant
    backend."""
    workdir = scratch("lag")
    url = f"sqlite:///{workdir / 'jitbot.db'}"
    now = datetime.now(UTC)
    first = now + timedelta(seconds=lead)
    spread = [first + timedelta(seconds=spread_seconds * i / expiring) for i in range(expiring)]
    burst_at = (first + timedelta(seconds=spread_seconds + gap)).replace(microsecond=0) + timedelta(seconds=1)
    burst = [burst_at + timedelta(microseconds=i) for i in range(expiring)]
    rest = [now + timedelta(hours=2, seconds=2 * i) for i in range(total - 2 * expiring)]
    seeded = time.perf_counter()
    ids = seeding.seed_grants(url, spread + burst + rest, fakes.info["nodes"]["web-1"],
                               warned_before=now + timedelta(hours=1))
    print(f"  seeded {len(ids)} active grants in {time.perf_counter() - seeded:.1f} s", flush=True)
    bot = Child(benchlib.bot_setup, slack_url=fakes.info["slack_url"], aws_url=fakes.info["aws_url"],
                nodes=fakes.info["nodes"], database_url=url, workdir=str(workdir), backend="seeding:InstantAws",
                hooks_url=None)  # expiries only: no delivery to answer
    try:
        armed = _wait_armed(bot)
        margin = (first - datetime.now(UTC)).total_seconds()
        print(f"  bot (pid {bot.pid}) ready, {bot.call(seeding.scheduled_jobs)} jobs armed ({armed:.1f} s after "
              f"start); first expiry in {margin:.1f} s", flush=True)
        cpu = benchlib.cpu_seconds(bot.pid)
        time.sleep(max(0.0, burst_at.timestamp() - 1 - time.time()))
        middle = benchlib.cpu_seconds(bot.pid)
        done = _collect(bot, ids[:2 * expiring], burst_at.timestamp() + 30)
        end = benchlib.cpu_seconds(bot.pid)
    finally:
        bot.close()
    return [_row(f"spread over {spread_seconds:g} s, instant backend", ids[:expiring], spread, done, 1.0,
                 middle - cpu, validity),
            _row("same second, instant backend", ids[expiring:2 * expiring], burst, done, None, end - middle,
                 validity)]


def moto_burst(fakes: Child, lead: float, validity: Validity, total: int = GRANTS,
               expiring: int = EXPIRING) -> list[object]:
    """``expiring`` grants expiring in the same second, revoked through the real AwsGateway from moto."""
    workdir = scratch("burst")
    url = f"sqlite:///{workdir / 'jitbot.db'}"
    now = datetime.now(UTC)
    burst_at = (now + timedelta(seconds=lead)).replace(microsecond=0)
    burst = [burst_at + timedelta(microseconds=i) for i in range(expiring)]
    rest = [now + timedelta(hours=2, seconds=2 * i) for i in range(total - expiring)]
    ids = seeding.seed_grants(url, burst + rest, fakes.info["nodes"]["web-1"],
                               warned_before=now + timedelta(hours=1))
    principals = list(PRINCIPALS.values())
    grants = [(principals[n % len(principals)], f"jitbot-{rid}") for n, rid in enumerate(ids[:expiring])]
    fakes.call(seeding.put_policies_directly, grants)
    before = fakes.call(seeding.count_policies, principals)
    fakes.call(seeding.watch_policies, grants)
    bot = Child(benchlib.bot_setup, slack_url=fakes.info["slack_url"], aws_url=fakes.info["aws_url"],
                nodes=fakes.info["nodes"], database_url=url, workdir=str(workdir),
                hooks_url=None)  # expiries only: no delivery to answer
    try:
        armed = _wait_armed(bot)
        margin = (burst_at - datetime.now(UTC)).total_seconds()
        print(f"  bot (pid {bot.pid}) ready ({armed:.1f} s to arm); {before} policies in moto; burst in {margin:.1f} s",
              flush=True)
        cpu = benchlib.cpu_seconds(bot.pid), benchlib.cpu_seconds(fakes.pid)
        deadline = burst_at.timestamp() + MOTO_WAIT
        while time.time() < deadline and len(fakes.call(seeding.policy_deletions)) < expiring:
            time.sleep(0.5)
        used = benchlib.cpu_seconds(bot.pid) - cpu[0], benchlib.cpu_seconds(fakes.pid) - cpu[1]
        deleted = fakes.call(seeding.policy_deletions)
        done = {rid: deleted[f"jitbot-{rid}"] for rid in ids[:expiring] if f"jitbot-{rid}" in deleted}
    finally:
        bot.close()
    after = fakes.call(seeding.count_policies, principals)
    print(f"  policies left in moto after the burst: {after} of {before}; CPU used meanwhile: bot {used[0]:.1f} s, "
          f"fakes (moto, Slack) {used[1]:.1f} s", flush=True)
    validity.count("policies left in moto after the burst", after)
    if before != expiring:
        validity.bad("moto burst", f"{before} policies put in moto for {expiring} grants")
    return _row("same second, AwsGateway -> moto", ids[:expiring], burst, done, 10.0, used[0], validity)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="spread the expiries over 20 s instead of 60 s")
    parser.add_argument("--lead", type=float, default=30.0, help="seconds between seeding and the first expiry")
    parser.add_argument("--skip-moto", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the workload, not the figures")
    args = parser.parse_args(argv)
    grants, expiring, spread, gap = GRANTS, EXPIRING, 20.0 if args.quick else 60.0, 5.0
    if args.smoke:
        grants, expiring, spread, gap, args.lead = 100, 20, 1.0, 0.0, 3.0
    started = benchlib.banner(f"Revocation lag ({grants:,} active grants, SQLite)")
    validity = Validity("revocation lag")
    with Child(benchlib.fakes_setup) as fakes:
        rows = scheduler_precision(fakes, spread, args.lead, validity, grants, expiring, gap)
        if not args.skip_moto:
            rows.append(moto_burst(fakes, args.lead, validity, grants, expiring))
    for leftover in ("lag", "burst"):  # the seeded databases of this run
        for path in Path(tempfile.gettempdir()).glob(f"jitbot-bench-{leftover}-*"):
            shutil.rmtree(path, ignore_errors=True)
    show("Policy deleted minus expires_at (targets: p99 < 1 s spread over a minute; a burst of 1,000 within 10 s)",
         ["grants expiring", "n", "revoked", "lag p50 ms", "lag p99 ms", "lag max ms", "last revoked after s",
          "lag > 1 s", "bot CPU ms per revocation", "target"], rows)
    print("\nsso-elevator, for comparison: one EventBridge Scheduler schedule per revocation, precise to 1 minute.")
    benchlib.footer(started)
    return validity.verdict()


if __name__ == "__main__":
    sys.exit(main())
