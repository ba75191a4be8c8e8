"""The HA deployment: two ``jitbot serve`` on one PostgreSQL behind one port, as in docker-compose.yml.

The real CLI twice (bench/serving.py), on a database of the benchmark's own on the local PostgreSQL (created, then
dropped), behind bench/proxy.py (round robin, one connection per delivery: each delivery goes to the next replica,
as nginx does in docker-compose.yml); the fakes in a child process; the load generator here. Measured:

1. acks of ``/jit request`` and Approve at 1 / 10 / 50 people (bench/ack_latency.py's workload), next to the floor
   behind the same proxy (two bare Bolt apps on waitress, bench/floor.py);
2. lifecycle throughput with 25 people (bench/lifecycle.py's cycles);
3. revocation lag with 10,000 active grants (seeded before the replicas start): 1,000 expiring spread over a
   minute, then 1,000 in the same second; the leader's real AwsGateway deletes each policy from moto, whose
   deletions are watched in the fakes' process (bench/revocation_lag.py's burst, here for both groups).

Every workload is checked as in the SQLite benchmarks (exit 1 when invalid). Without a reachable PostgreSQL it
says so and exits 0.

    python bench/replicas.py [--quick | --smoke]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ack_latency
import benchlib
import lifecycle
import seeding
import serving
import workload
from benchlib import Child, StateReader, Users, scratch, show
from floor import floor_setup
from revocation_lag import _row
from seeding import PRINCIPALS
from serving import Proxy, Replicas
from workload import Validity


def reachable() -> bool:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(serving.POSTGRES).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def acks_and_cycles(fakes: Child, workdir: Path, levels: list[int], ops: dict[int, int], people: int,
                    seconds: float, validity: Validity) -> tuple[list[list[object]], list[object]]:
    policies = workdir / "policies.toml"
    policies.write_text(workload.policies_text(max(*levels, people)), "utf-8")
    rows: list[list[object]] = []
    with serving.postgres_database("acks") as url:
        answers = benchlib.receiver()  # before the replicas, which are told its origin
        try:
            replicas = Replicas(fakes, url, workdir, policies, hooks_url=answers.base_url)
        except BaseException:
            answers.stop()
            raise
        floors = [Child(floor_setup, slack_url=fakes.info["slack_url"], secret=serving.SECRET) for _ in range(2)]
        proxy = Proxy([f.info["url"] for f in floors])
        users = Users(replicas.url, replicas.secret, answers)
        floor_users = Users(proxy.url, floors[0].info["secret"], benchlib.receiver())  # the floor only acks
        reader = StateReader(url)
        try:
            print(f"  replicas: pids {replicas.pids}, proxy pid {replicas.proxy.pid}; floors: pids "
                  f"{[f.pid for f in floors]}, proxy pid {proxy.pid}", flush=True)
            for i in range(2):  # warm-up: both replicas (caches, auth.test)
                ack_latency.person_loop(users, 2, f"warm-up {i}", ack_latency.Sample(), ack_latency.Sample(),
                                        validity)(i)
                ack_latency.floor_loop(floor_users, 2, 0.0, ack_latency.Sample(), ack_latency.Sample(), validity)(i)
            for clients in levels:
                per_client = max(1, ops.get(clients, 4 * clients) // clients)
                level = ack_latency.measure(replicas, users, clients, per_client, f"PostgreSQL x2, {clients} people",
                                            validity)
                ack_latency.measure_floor(floor_users, clients, per_client, level, validity)
                rows += ack_latency.rows(0.0, level, level)
                print(f"  {clients} people: done; load {benchlib.load()}", flush=True)
            cycles = lifecycle.run(replicas, users, reader, people, seconds, validity, judged=False)
        finally:
            users.close()
            floor_users.close()
            reader.close()
            proxy.stop()
            for f in floors:
                f.close()
            replicas.stop()
    return rows, cycles


def revocation(fakes: Child, workdir: Path, grants: int, expiring: int, spread_seconds: float, lead: float,
               validity: Validity) -> list[list[object]]:
    rows: list[list[object]] = []
    with serving.postgres_database("lag") as url:
        now = datetime.now(UTC)
        first = now + timedelta(seconds=lead)
        spread = [first + timedelta(seconds=spread_seconds * i / expiring) for i in range(expiring)]
        burst_at = (first + timedelta(seconds=spread_seconds + 5)).replace(microsecond=0) + timedelta(seconds=1)
        burst = [burst_at + timedelta(microseconds=i) for i in range(expiring)]
        rest = [now + timedelta(hours=2, seconds=2 * i) for i in range(grants - 2 * expiring)]
        seeded = time.perf_counter()
        ids = seeding.seed_grants(url, spread + burst + rest, fakes.info["nodes"]["web-1"],
                                  warned_before=now + timedelta(hours=1))
        principals = list(PRINCIPALS.values())
        policies = [(principals[n % len(principals)], f"jitbot-{rid}") for n, rid in enumerate(ids[:2 * expiring])]
        fakes.call(seeding.put_policies_directly, policies)
        fakes.call(seeding.watch_policies, policies)
        print(f"  seeded {len(ids):,} active grants and {len(policies):,} policies in moto in "
              f"{time.perf_counter() - seeded:.1f} s", flush=True)
        replicas = Replicas(fakes, url, workdir, benchlib.REPO / "policies.toml",
                            hooks_url=None)  # expiries only: no delivery to answer
        try:
            print(f"  replicas ready (pids {replicas.pids}); first expiry in "
                  f"{(first - datetime.now(UTC)).total_seconds():.1f} s", flush=True)
            cpu = benchlib.total_cpu(replicas.pids)
            time.sleep(max(0.0, burst_at.timestamp() - 1 - time.time()))
            middle = benchlib.total_cpu(replicas.pids)
            deadline = burst_at.timestamp() + 120
            while time.time() < deadline and len(fakes.call(seeding.policy_deletions)) < 2 * expiring:
                time.sleep(0.5)
            end = benchlib.total_cpu(replicas.pids)
        finally:
            replicas.stop()
        deleted = fakes.call(seeding.policy_deletions)
        done = {rid: deleted[f"jitbot-{rid}"] for rid in ids[:2 * expiring] if f"jitbot-{rid}" in deleted}
        rows.append(_row(f"spread over {spread_seconds:g} s, AwsGateway -> moto", ids[:expiring], spread, done, 1.0,
                         middle - cpu, validity))
        rows.append(_row("same second, AwsGateway -> moto", ids[expiring:2 * expiring], burst, done, 10.0,
                         end - middle, validity))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations, shorter runs")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the workload, not the figures")
    parser.add_argument("--skip-revocation", action="store_true")
    args = parser.parse_args(argv)
    levels, ops = [1, 10, 50], {1: 20, 10: 100, 50: 200}
    people, seconds, grants, expiring, spread, lead = 25, 20.0, 10_000, 1_000, 60.0, 30.0
    if args.quick:
        ops, seconds, spread = {1: 10, 10: 50, 50: 100}, 10.0, 20.0
    if args.smoke:
        levels, ops, people, seconds, grants, expiring, spread, lead = [1, 3], {1: 2, 3: 6}, 2, 2.0, 100, 20, 1.0, 4.0
    started = benchlib.banner("PostgreSQL, two `jitbot serve` behind one port")
    if not reachable():
        print(f"  skipped: no PostgreSQL at {serving.POSTGRES} (JITBOT_BENCH_POSTGRES)", flush=True)
        return 0
    validity = Validity("replicas")
    workdir = scratch("replicas")
    try:
        with Child(benchlib.fakes_setup, people=max(*levels, people)) as fakes:
            acks, cycles = acks_and_cycles(fakes, workdir, levels, ops, people, seconds, validity)
            lags = [] if args.skip_revocation else revocation(fakes, workdir, grants, expiring, spread, lead,
                                                                validity)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    show("PostgreSQL x2: ack latency, ms (fakes at once; floor: two bare Bolt apps behind the same proxy)",
         ack_latency.HEADERS, acks)
    show("PostgreSQL x2: complete cycles (1 s access window each)", lifecycle.HEADERS, [cycles])
    if lags:
        show("PostgreSQL x2: policy deleted minus expires_at, AwsGateway -> moto", [
            "grants expiring", "n", "revoked", "lag p50 ms", "lag p99 ms", "lag max ms", "last revoked after s",
            "lag > 1 s", "replicas' CPU ms per revocation", "target"], lags)
    benchlib.footer(started)
    return validity.verdict()


if __name__ == "__main__":
    sys.exit(main())
