"""A year of history: the daily digest and ``/jit list`` on 1,000,000 requests and their audit events (SQLite).

The database is generated once with bulk inserts (sqlite3 ``executemany`` of the values the store writes, into the
schema of its migrations) and cached under /tmp; it is regenerated when absent or of another shape. Every figure is the
time of the real code path on that file: ``core.digest.build_digest`` over ``store.reports.SqlReports`` (plus its
Block Kit rendering), and ``handlers.commands.answer(ctx, user, "list")`` over ``SqlUnitOfWork``.

    python bench/history.py [--regenerate] [--requests N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import benchlib
from benchlib import Spread, show, verdict

TARGET = 0.5  # seconds
SHAPE = 1  # bump when the generated data changes
DAY = timedelta(days=1)
USERS = 500
NODES = 2_000
HEAVY = "U0ALICE01"  # 2 % of all requests: an automation account or a very busy on-call engineer
TYPICAL = "U0H000042"
LEVELS = [{"name": "SRE lead", "channel": "C0SREAPPR", "approvers": ["S0SRELEAD"], "required": 1},
          {"name": "Manager", "channel": "C0MGRAPPR", "approvers": ["U0CAROL01", "U0DAVE001"], "required": 2}]
#: outcome, share, events (action, minutes after creation); "end" marks when the request ended
OUTCOMES: list[tuple[str, float, list[tuple[str, float]]]] = [
    ("expired", 0.70, [("submitted", 0), ("approve", 4), ("level_approved", 4), ("approve", 9), ("approve", 12),
                       ("approved", 12), ("granted", 12.1), ("expired", -1), ("revocation_confirmed", -1)]),
    ("auto", 0.15, [("submitted", 0), ("auto_approved", 0), ("granted", 0.1), ("expired", -1),
                    ("revocation_confirmed", -1)]),
    ("rejected", 0.08, [("submitted", 0), ("reject", 6), ("rejected", 6)]),
    ("revoked", 0.04, [("submitted", 0), ("approve", 3), ("level_approved", 3), ("approve", 8), ("approve", 10),
                       ("approved", 10), ("granted", 10.1), ("revoked", 30), ("revocation_confirmed", 30)]),
    ("cancelled", 0.02, [("submitted", 0), ("cancelled", 20)]),
    ("timed_out", 0.01, [("submitted", 0), ("reminded", 60), ("timed_out", 1440)]),
]


def cache_paths(requests: int) -> tuple[Path, Path]:
    base = Path(tempfile.gettempdir()) / f"jitbot-bench-history-{requests}-v{SHAPE}"
    return base.with_suffix(".db"), base.with_suffix(".json")


def _stamp(value: datetime | None) -> str | None:
    """A naive UTC datetime as the store keeps it on SQLite (store.models.UTCDateTime: naive UTC text)."""
    return None if value is None else value.isoformat(" ", "microseconds")


def _request(n: int, created: datetime, anchor: datetime, rng: random.Random,
             json: Callable[[Any], str]) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """One request's row and its audit events (as tuples of stored values), consistent with the lifecycle."""
    requester = HEAVY if rng.random() < 0.02 else f"U0H{rng.randrange(USERS):06d}"
    node = rng.randrange(NODES)
    pick, outcome = rng.random(), OUTCOMES[0]
    for candidate in OUTCOMES:
        pick -= candidate[1]
        if pick <= 0:
            outcome = candidate
            break
    name, _, steps = outcome
    duration = timedelta(minutes=rng.choice((15, 30, 60, 60, 120, 240)))
    granted = next((created + timedelta(minutes=m) for a, m in steps if a == "granted"), None)
    state, level = ("expired" if name == "auto" else name), 2 if name in ("expired", "revoked") else 0
    expires = granted + duration if granted else None
    ended = {"expired": expires, "auto": expires}.get(name) or created + timedelta(minutes=max(m for _, m in steps))
    live = ended > anchor
    if live:  # the last hours of the year: still active, or still waiting for a decision
        state = "active" if granted and granted <= anchor else "pending"
        level = level if state == "active" else 0
    rid = f"RH{n:07d}"
    kept = state in ("active", "expired", "revoked")
    row = (rid, requester, f"arn:aws:iam::123456789012:role/{requester}", f"i-{node:017x}", "123456789012",
           "eu-west-1", f"node-{node}", json({"Environment": "prod" if node % 3 else "dev"}), "Online", "Linux",
           f"incident {n % 9973}: look at the logs", int(duration.total_seconds()),
           "dev-self-service" if name == "auto" else "production", "auto" if name == "auto" else "manual",
           json([] if name == "auto" else LEVELS), state, _stamp(created), level, None,
           _stamp(granted if kept else None), _stamp(expires if kept else None), None if live else _stamp(ended),
           None if live else name.replace("auto", "expired"),
           None if live else ("jitbot" if name in ("expired", "auto", "timed_out") else "U0SAM0001"),
           None, 0, None, int(bool(granted) and not live), 0, 0, None, 0)
    events = []
    for action, minutes in steps:
        at = ended if minutes < 0 else created + timedelta(minutes=minutes)
        if at > anchor or (live and action in ("expired", "revocation_confirmed", "rejected")):
            break
        actor = "jitbot" if action in ("expired", "revocation_confirmed", "granted", "auto_approved", "timed_out",
                                       "reminded") else (requester if action in ("submitted", "cancelled")
                                                         else "U0SAM0001")
        detail = json({"from": "pending", "to": action} if action in ("approved", "rejected") else {})
        events.append((rid, _stamp(at), actor, action, detail))
    return row, events


REQUEST_COLUMNS = ("id", "requester", "principal_arn", "node_id", "node_account", "node_region", "node_name",
                   "node_tags", "node_ping_status", "node_platform", "reason", "duration_seconds", "policy", "kind",
                   "levels", "state", "created_at", "current_level", "ticket", "granted_at", "expires_at",
                   "ended_at", "end_reason", "ended_by", "extends", "reminders_sent", "last_reminder_at", "warned",
                   "needs_cleanup", "cleanup_attempts", "lease_until", "sessions_ended")
EVENT_COLUMNS = ("request_id", "at", "actor", "action", "detail")


def generate(path: Path, requests: int, anchor: datetime) -> float:
    """Write the database: the schema by the store's migrations, then a year of requests and events inserted
    ``executemany`` at a time, then a check that the store reads back what was meant."""
    from store.engine import create_session_factory, json_dumps, make_engine
    from store.migrate import upgrade
    from store.uow import SqlUnitOfWork

    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    started = time.perf_counter()
    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(20240601)
    anchor = anchor.astimezone(UTC).replace(tzinfo=None)  # generated in naive UTC, as stored
    start = anchor - timedelta(days=365)
    step = timedelta(days=365) / requests
    texts: dict[str, str] = {}

    def encode(value: Any) -> str:  # the store's JSON, of the few distinct values there are
        key = repr(value)
        text = texts.get(key)
        if text is None:
            text = texts[key] = json_dumps(value)
        return text

    marks = ", ".join("?" * len(REQUEST_COLUMNS))
    put_request = f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) VALUES ({marks})"
    put_event = f"INSERT INTO audit_events ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?)"
    batch = 50_000
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA synchronous=OFF")  # a generated file: nothing to lose
        for first in range(0, requests, batch):
            rows, events = [], []
            for n in range(first, min(first + batch, requests)):
                created = start + step * n + timedelta(seconds=rng.random() * 30)
                row, more = _request(n, created, anchor, rng, encode)
                rows.append(row)
                events += more
            raw.execute("BEGIN IMMEDIATE")
            raw.executemany(put_request, rows)
            raw.executemany(put_event, events)
            raw.execute("COMMIT")
            if (first // batch) % 4 == 0:
                print(f"  {first + len(rows):,} requests ({time.perf_counter() - started:.0f} s)", flush=True)
    with SqlUnitOfWork(create_session_factory(engine)) as uow:  # the store reads back what was meant
        back = uow.repo.get("RH0000000")
        assert back is not None and abs(back.created_at - start.replace(tzinfo=UTC)) < timedelta(seconds=31), back
        assert uow.repo.events("RH0000000")[0].action == "submitted"
    engine.dispose()
    return time.perf_counter() - started


def database(requests: int, regenerate: bool) -> tuple[str, datetime]:
    from store.migrate import is_up_to_date, upgrade

    db, meta = cache_paths(requests)
    if not regenerate and db.exists() and meta.exists():
        info = json.loads(meta.read_text())
        print(f"  cached database {db} ({db.stat().st_size / 2**20:,.0f} MiB, generated in "
              f"{info['seconds']:.0f} s)", flush=True)
        url = f"sqlite:///{db}"
        if not is_up_to_date(url):  # generated before a later migration: apply it, as `jitbot db upgrade` would
            started = time.perf_counter()
            upgrade(url)
            print(f"  migrated the cached database to head in {time.perf_counter() - started:.1f} s", flush=True)
        return url, datetime.fromisoformat(info["anchor"])
    anchor = datetime.now(UTC).replace(microsecond=0)
    print(f"  generating {requests:,} requests and their events into {db} ...", flush=True)
    seconds = generate(db, requests, anchor)
    meta.write_text(json.dumps({"anchor": anchor.isoformat(), "requests": requests, "seconds": seconds}))
    print(f"  generated in {seconds:.0f} s ({db.stat().st_size / 2**20:,.0f} MiB)", flush=True)
    return f"sqlite:///{db}", anchor


def timed(function: Callable[[], Any], runs: int = 5) -> tuple[float, Spread, Any]:
    """(first call, the next ``runs`` calls, the last result)."""
    started = time.perf_counter()
    result = function()
    first = time.perf_counter() - started
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return first, Spread.of(times), result


def _counts(url: str) -> tuple[int, int]:
    from sqlalchemy import func, select

    from store.engine import make_engine
    from store.models import AuditEventRow, RequestRow

    engine = make_engine(url)
    with engine.connect() as conn:
        requests = conn.execute(select(func.count()).select_from(RequestRow)).scalar_one()
        events = conn.execute(select(func.count()).select_from(AuditEventRow)).scalar_one()
    engine.dispose()
    return int(requests), int(events)


def measurements(url: str, anchor: datetime) -> Iterator[tuple[str, Callable[[], Any]]]:
    from typing import cast

    from bot.policies import PolicyHolder
    from core.context import Context
    from handlers import commands
    from store.engine import create_session_factory, make_engine
    from store.uow import SqlUnitOfWork

    engine = make_engine(url)
    sessions = create_session_factory(engine)
    policies = PolicyHolder(str(benchlib.REPO / "policies.toml"))
    none = cast(Any, None)
    ctx = Context(uow=lambda: SqlUnitOfWork(sessions), clock=none, nodes=none, access=none, directory=none,
                  notifier=none, policies=policies)
    try:
        from core.digest import build_digest
        from core.i18n import ENGLISH
        from handlers.digest_blocks import digest_blocks
        from store.reports import SqlReports

        reports = SqlReports(sessions)
        yield "digest: core.digest.build_digest (SqlReports)", lambda: build_digest(reports, anchor, "Europe/Paris")
        yield "digest: built and rendered (Block Kit)", lambda: [b.to_dict() for b in digest_blocks(
            ENGLISH, build_digest(reports, anchor, "Europe/Paris"))]
    except ImportError as err:  # the digest builder is not there yet: its queries from store.queries
        from store import queries

        print(f"  (no digest builder: {err}; measuring store.queries' digest queries instead)", flush=True)

        def digest_queries() -> Any:
            with sessions() as session:
                since = anchor - DAY
                return (queries.count_by_state_since(session, since, anchor),
                        queries.top_requesters(session, anchor - 7 * DAY, 5, anchor),
                        queries.top_nodes(session, anchor - 7 * DAY, 5, anchor))

        yield "digest queries (store.queries)", digest_queries
    yield f"/jit list, typical user ({TYPICAL})", lambda: commands.answer(ctx, TYPICAL, "list")
    yield f"/jit list, heaviest user ({HEAVY}, 2 % of all)", lambda: commands.answer(ctx, HEAVY, "list")

    def by_requester() -> Any:
        with SqlUnitOfWork(sessions) as uow:
            return uow.repo.by_requester(HEAVY, limit=50)

    yield "by_requester, heaviest user, any state (App Home history)", by_requester
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regenerate", action="store_true", help="rebuild the cached database")
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (2,000 requests): checks that it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests = 2_000
    started = benchlib.banner(f"History: {args.requests:,} requests over a year (SQLite)")
    url, anchor = database(args.requests, args.regenerate)
    requests, events = _counts(url)
    print(f"  {requests:,} requests, {events:,} audit events; 'now' is {anchor.isoformat()}", flush=True)
    rows = []
    for name, function in measurements(url, anchor):
        first, spread, _ = timed(function)
        rows.append([name, f"{first * 1000:.1f}", f"{spread.p50 * 1000:.1f}", f"{spread.max * 1000:.1f}",
                     verdict(max(first, spread.max), TARGET)])
    show(f"On {requests:,} requests and {events:,} events, ms (target < 500 ms each)",
         ["query", "first call", "next 5: p50", "next 5: max", "target"], rows)
    benchlib.footer(started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
