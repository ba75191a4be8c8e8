"""Scale: 100,000 active grants in the store (SQLite).

The grants belong to 10,000 people (10 each, as the bench people ``U0BN…`` of bench/workload.py); 1,000 end spread
over one minute, the other 99,000 between 2 and 4 hours later. The database is seeded once with bulk inserts
(bench/seeding.py) and cached under /tmp; each run copies it and shifts every timestamp by the time since it was
made, so that the grants keep the same distance to "now". Measured:

1. start-up to ready of ``jitbot serve`` (the real CLI; median of 3) and its resident memory once settled, with the
   1,000 first grants ending 10 minutes after the start (armed, not expiring during the measure);
2. revocation lag of the 1,000 spread over a minute (the whole bot with the in-process instant backend, as
   bench/revocation_lag.py), then, on the same running bot:
3. the App Home (a signed ``app_home_opened`` until ``views.publish`` reaches the fake Slack) and ``/jit list``
   (a signed command until its answer) of a person with 10 active grants, and the daily digest
   (``core.digest.build_digest`` over ``SqlReports``, in process, as bench/history.py).

    python bench/scale.py [--smoke] [--grants N] [--regenerate]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import benchlib
import history
import seeding
import workload
from benchlib import Child, Spread, Users, scratch, show, verdict
from revocation_lag import _collect, _row, _wait_armed
from serving import Serve
from workload import Validity

if TYPE_CHECKING:
    from fakes.slack_api import FakeSlack

GRANTS = 100_000
PER_PERSON = 10
EXPIRING = 1_000
SPREAD = 60.0
SHAPE = 1  # bump when the seeded data changes
START_TARGET, MEMORY_TARGET, LAG_TARGET, QUERY_TARGET = 2.0, 150.0, 1.0, 0.5
STAMP = "%Y-%m-%d %H:%M:%S.%f"
LISTED = re.compile(r"\bRB\d{7}\b")  # the person's seeded grants


def _cache(grants: int, spread: float) -> tuple[Path, Path]:
    base = Path(tempfile.gettempdir()) / f"jitbot-bench-scale-{grants}-{spread:g}s-v{SHAPE}"
    return base.with_suffix(".db"), base.with_suffix(".json")


def cached(grants: int, spread: float, node_id: str, regenerate: bool) -> tuple[Path, datetime]:
    """The seeded database and its anchor: grant i < EXPIRING ends at anchor + spread * i / EXPIRING, the others
    between anchor + 2 h and anchor + 4 h."""
    db, meta = _cache(grants, spread)
    if db.exists() and meta.exists() and not regenerate:
        info = json.loads(meta.read_text())
        print(f"  cached database {db} ({db.stat().st_size / 2**20:.0f} MiB, seeded in {info['seconds']:.1f} s)",
              flush=True)
        return db, datetime.fromisoformat(info["anchor"])
    db.unlink(missing_ok=True)
    anchor = datetime.now(UTC).replace(microsecond=0)
    expiring = min(EXPIRING, grants // 4)
    expiries = [anchor + timedelta(seconds=spread * i / expiring) for i in range(expiring)]
    rest = grants - expiring
    expiries += [anchor + timedelta(hours=2) + timedelta(hours=2) * i / rest for i in range(rest)]
    people = [(workload.person(n), workload.principal(n)) for n in range(max(1, grants // PER_PERSON))]
    started = time.perf_counter()
    seeding.seed_grants(f"sqlite:///{db}", expiries, node_id, warned_before=anchor + timedelta(hours=1),
                        batch=5000, people=people)
    seconds = time.perf_counter() - started
    meta.write_text(json.dumps({"anchor": anchor.isoformat(), "grants": grants, "seconds": seconds}))
    print(f"  seeded {grants:,} active grants into {db} in {seconds:.1f} s", flush=True)
    return db, anchor


def shifted_copy(source: Path, anchor: datetime, new_anchor: datetime, target: Path) -> None:
    """Copy the cached database, every timestamp moved by ``new_anchor - anchor`` (one UPDATE)."""
    shutil.copy(source, target)
    delta = new_anchor - anchor

    def shift(text: str | None) -> str | None:
        return None if text is None else (datetime.fromisoformat(text) + delta).strftime(STAMP)

    with sqlite3.connect(target) as conn:
        conn.create_function("shift", 1, shift, deterministic=True)
        conn.execute("UPDATE requests SET created_at = shift(created_at), granted_at = shift(granted_at), "
                     "expires_at = shift(expires_at)")
    conn.close()


def footprint(fakes: Child, db: Path, anchor: datetime, workdir: Path, runs: int,
              validity: Validity) -> list[list[object]]:
    ready, rss = [], 0.0
    for run in range(runs):
        copy = workdir / f"footprint-{run}.db"
        shifted_copy(db, anchor, datetime.now(UTC) + timedelta(minutes=10), copy)
        serve = Serve(fakes, f"sqlite:///{copy}", workdir, hooks_url=None)  # start-up only: no delivery to answer
        try:
            if serve.ready != serve.ready:
                validity.bad("start-up", f"jitbot serve not ready within 60 s: {serve.tail(5)}")
            ready.append(serve.ready)
            if run == 0:
                rss = _settle(serve)
        finally:
            serve.stop()
        copy.unlink(missing_ok=True)
    median = statistics.median(ready)
    return [["start-up to ready, s (median of " + str(runs) + ")", f"{median:.2f}", f"< {START_TARGET:g}",
             verdict(median, START_TARGET)],
            ["resident memory once settled, MiB", f"{rss:.0f}", f"< {MEMORY_TARGET:g}", verdict(rss, MEMORY_TARGET)]]


def _settle(serve: Serve) -> float:
    last, deadline = serve.rss_mib(), time.perf_counter() + 30
    while time.perf_counter() < deadline:
        time.sleep(2.0)
        now = serve.rss_mib()
        if now - last < 0.5:
            return now
        last = now
    return last


def wait_home(fakes: Any, user: str, timeout: float) -> bool:
    """(Fakes process) wait for a views.publish of ``user``'s home; forget the calls once seen."""
    try:
        fakes.slack.wait_for(lambda c: c.method == "views.publish" and c.params.get("user_id") == user, timeout)
    except AssertionError:
        return False
    fakes.slack.clear()
    return True


def timed(function: Callable[[], Any], runs: int = 5) -> tuple[float, Spread]:
    started = time.perf_counter()
    function()
    first = time.perf_counter() - started
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return first, Spread.of(times)


def surfaces(fakes: Child, bot: Child, answers: FakeSlack, url: str, anchor: datetime,
             validity: Validity) -> list[list[object]]:
    """App Home and /jit list over signed HTTP (answers on ``answers``, the bot's hooks URL), the digest in
    process, on the running bot's store."""
    rows: list[list[object]] = []
    user = workload.person(1)
    users = Users(bot.info["url"], bot.info["secret"], answers)
    try:
        def home() -> None:
            users.sim.event({"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home"})
            if not fakes.call(wait_home, user, 30.0):
                validity.bad("App Home", "no views.publish within 30 s")

        def listing() -> None:
            status, _ = users.command(user, "list")
            text = users.answer() if validity.status("/jit list", status) else None
            validity.answer("/jit list", text, LISTED)

        for name, function in ((f"App Home of a person with {PER_PERSON} active grants (signed HTTP)", home),
                               ("/jit list of that person (signed HTTP, to the answer)", listing)):
            first, spread = timed(function)
            rows.append([name, f"{first * 1000:.1f}", f"{spread.p50 * 1000:.1f}", f"{spread.max * 1000:.1f}",
                         verdict(max(first, spread.max), QUERY_TARGET)])
    finally:
        users.close()
    for name, function in history.measurements(url, anchor):
        if name.startswith("digest"):
            first, spread = timed(function)
            rows.append([name + " (in process)", f"{first * 1000:.1f}", f"{spread.p50 * 1000:.1f}",
                         f"{spread.max * 1000:.1f}", verdict(max(first, spread.max), QUERY_TARGET)])
    return rows


def lag_and_surfaces(fakes: Child, db: Path, anchor: datetime, workdir: Path, lead: float, expiring: int,
                     spread: float, validity: Validity) -> tuple[list[object], list[list[object]]]:
    copy = workdir / "jitbot.db"
    first = datetime.now(UTC) + timedelta(seconds=lead)
    shifted_copy(db, anchor, first, copy)
    url = f"sqlite:///{copy}"
    ids = [f"RB{n:07d}" for n in range(expiring)]
    expiries = [first + timedelta(seconds=spread * i / expiring) for i in range(expiring)]
    answers = benchlib.receiver()  # before the bot, which is told its origin
    try:
        bot = Child(benchlib.bot_setup, slack_url=fakes.info["slack_url"], aws_url=fakes.info["aws_url"],
                    nodes=fakes.info["nodes"], database_url=url, workdir=str(workdir), backend="seeding:InstantAws",
                    policies=workload.policies_text(3), hooks_url=answers.base_url)
    except BaseException:
        answers.stop()
        raise
    try:
        armed = _wait_armed(bot)
        print(f"  bot (pid {bot.pid}) ready, {bot.call(seeding.scheduled_jobs)} jobs armed ({armed:.1f} s); first "
              f"expiry in {(first - datetime.now(UTC)).total_seconds():.1f} s", flush=True)
        cpu = benchlib.cpu_seconds(bot.pid)
        done = _collect(bot, ids, expiries[-1].timestamp() + 30)
        cpu = benchlib.cpu_seconds(bot.pid) - cpu
        lag = _row(f"spread over {spread:g} s: {expiring:,} of the grants, instant backend", ids, expiries, done,
                   LAG_TARGET, cpu, validity)
        queries = surfaces(fakes, bot, answers, url, first, validity)
    finally:
        bot.close()
        answers.stop()
    return lag, queries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=GRANTS)
    parser.add_argument("--runs", type=int, default=3, help="start-ups to take the median of")
    parser.add_argument("--lead", type=float, default=30.0, help="seconds between the copy and the first expiry")
    parser.add_argument("--regenerate", action="store_true", help="seed the cached database again")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (400 grants): checks that it runs")
    args = parser.parse_args(argv)
    spread = SPREAD
    if args.smoke:
        args.grants, args.runs, args.lead, spread = 400, 1, 3.0, 2.0
    started = benchlib.banner(f"Scale: {args.grants:,} active grants (SQLite)")
    validity = Validity("scale")
    workdir = scratch("scale")
    try:
        with Child(benchlib.fakes_setup, people=3) as fakes:
            db, anchor = cached(args.grants, spread, fakes.info["nodes"]["web-1"], args.regenerate)
            expiring = min(EXPIRING, args.grants // 4)
            start = footprint(fakes, db, anchor, workdir, args.runs, validity)
            print(f"  footprint: done; load {benchlib.load()}", flush=True)
            lag, queries = lag_and_surfaces(fakes, db, anchor, workdir, args.lead, expiring, spread, validity)
            print(f"  revocation lag, App Home, list, digest: done; load {benchlib.load()}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    show(f"`jitbot serve` with {args.grants:,} active grants", ["measure", "value", "target", ""], start)
    show("Policy deleted minus expires_at (target: p99 < 1 s)",
         ["grants expiring", "n", "revoked", "lag p50 ms", "lag p99 ms", "lag max ms", "last revoked after s",
          "lag > 1 s", "bot CPU ms per revocation", "target"], [lag])
    show(f"On {args.grants:,} active grants, ms (target < 500 ms)",
         ["query", "first call", "next 5: p50", "next 5: max", "target"], queries)
    benchlib.footer(started)
    return validity.verdict()


if __name__ == "__main__":
    sys.exit(main())
