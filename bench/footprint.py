"""Footprint of ``jitbot serve``: start-up to ready, and resident memory with 10,000 active grants.

Each run starts the real CLI (``jitbot serve``) as a subprocess against the fake Slack Web API and moto of a child
process, on a SQLite file, and polls ``GET /healthz?ready=1`` until it answers 200 (database at the head
migration, scheduler running, Slack's auth.test passed). Memory is ``VmRSS`` of /proc/<pid>/status once the
scheduler has armed its jobs.

    python bench/footprint.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import benchlib
import seeding
from benchlib import Child, scratch, show, verdict
from serving import Serve
from workload import Validity

from store.migrate import upgrade

START_TARGET = 2.0  # seconds
MEMORY_TARGET = 150  # MiB
GRANTS = 10_000


def _settle(serve: Serve, seconds: float = 3.0) -> float:
    """RSS once it stops growing (the scheduler arms one job per grant after start), in MiB."""
    last, deadline = serve.rss_mib(), time.perf_counter() + 30
    while time.perf_counter() < deadline:
        time.sleep(seconds)
        now = serve.rss_mib()
        if now - last < 0.5:
            return now
        last = now
    return last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--grants", type=int, default=GRANTS)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the workload, not the figures")
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs, args.grants = 1, 100
    started = benchlib.banner("Footprint of `jitbot serve` (SQLite)")
    validity = Validity("footprint")
    workdir = scratch("footprint")
    rows: list[list[object]] = []
    memory: list[list[object]] = []
    try:
        with Child(benchlib.fakes_setup) as fakes:
            grants = workdir / "grants.db"
            now = datetime.now(UTC)
            seeding.seed_grants(f"sqlite:///{grants}",
                                [now + timedelta(hours=2, seconds=i) for i in range(args.grants)],
                                fakes.info["nodes"]["web-1"])
            cases = [("new database (migrations run)", None), ("migrated, empty", "empty"),
                     (f"{args.grants:,} active grants", "grants")]
            if args.smoke:  # the CLI starts on a new database and on grants: enough to catch a broken path
                del cases[1]
            empty = workdir / "empty.db"
            for label, kind in cases:
                ready, listening, rss = [], [], []
                for run in range(args.runs):
                    database = workdir / f"run-{run}.db"
                    if kind is None:
                        database.unlink(missing_ok=True)
                    elif kind == "empty":
                        if not empty.exists():
                            upgrade(f"sqlite:///{empty}")
                        shutil.copy(empty, database)
                    else:
                        shutil.copy(grants, database)
                    # start-up only: no delivery, nothing to answer
                    serve = Serve(fakes, f"sqlite:///{database}", workdir, hooks_url=None)
                    try:
                        if serve.ready != serve.ready:
                            validity.bad(label, "jitbot serve did not become ready within 60 s")
                        ready.append(serve.ready)
                        listening.append(serve.listening)
                        if run == 0 and kind is not None:
                            rss.append(_settle(serve, 0.5 if args.smoke else 3.0))
                    finally:
                        serve.stop()
                judged = verdict(statistics.median(ready), START_TARGET) if kind != "grants" else "(no target)"
                rows.append([label, args.runs, f"{statistics.median(listening):.2f}", f"{statistics.median(ready):.2f}",
                             f"{max(ready):.2f}", judged])
                if rss:
                    memory.append([label, f"{rss[0]:.0f}", verdict(rss[0], MEMORY_TARGET)])
                print(f"  {label}: done; load {benchlib.load()}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    show("Start-up of `jitbot serve`, seconds from exec (target: ready < 2 s, median)",
         ["database", "runs", "HTTP answers (median)", "ready (median)", "ready (max)", "target"], rows)
    show("Resident memory once started, MiB (VmRSS; target < 150 MiB with 10,000 active grants)",
         ["database", "VmRSS MiB", "target"], memory)
    benchlib.footer(started)
    return validity.verdict()


if __name__ == "__main__":
    sys.exit(main())
