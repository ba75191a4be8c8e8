"""Shared pieces of the benchmarks: statistics, tables, the machine's state, and the bot on its fakes in a
child process (so that the load generator and the server do not share one interpreter lock).

Not a test helper: nothing here asserts a timing. Every script prints its figures and exits 0.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from fakes.slack_api import FakeSlack

REPO = Path(__file__).resolve().parents[1]
REQUEST_ID = re.compile(r"\bR[0-9A-HJKMNP-TV-Z]{8}\b")


# --- figures ------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank; p in 0..100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Spread:
    n: int
    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(len(values), percentile(values, 50), percentile(values, 99), max(values),
                   statistics.fmean(values))


def ms(seconds: float) -> str:
    """Seconds shown as milliseconds."""
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def table(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (readable in a terminal, pasteable into BENCHMARKS.md)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    out = [f"\n### {title}\n", line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


def show(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    print(table(title, headers, rows), flush=True)


def verdict(value: float, target: float) -> str:
    return "met" if value < target else "MISSED"


# --- the machine --------------------------------------------------------------------------------------


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (f"{cpu}, {os.cpu_count()} CPU(s){memory}; Python {platform.python_version()} on "
            f"{platform.system()} {platform.release()}")


def banner(name: str) -> float:
    """Print what runs where, and the load before; returns the start time (perf_counter)."""
    print(f"## {name}\n\nmachine: {machine()}\nload average before (1/5/15 min): {load()}", flush=True)
    return time.perf_counter()


def footer(started: float) -> None:
    print(f"\nload average after (1/5/15 min): {load()}; took {time.perf_counter() - started:.1f} s", flush=True)


def vm_rss_kib(pid: int) -> int:
    """Resident memory of a process (``VmRSS`` in /proc/<pid>/status), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scratch(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"jitbot-bench-{prefix}-"))


# --- child processes: the fakes (Slack, AWS) in one, the bot in another ----------------------------


def _serve(conn: Connection, setup: Callable[[dict[str, Any]], tuple[Any, dict[str, Any], Callable[[], None]]],
           options: dict[str, Any]) -> None:
    """The child: build something with ``setup``, send its description, then run the parent's calls on it."""
    target, info, teardown = setup(options)
    try:
        conn.send({**info, "pid": os.getpid()})
        while True:
            function, args = conn.recv()
            if function is None:
                break
            try:
                conn.send(("ok", function(target, *args)))
            except Exception:
                conn.send(("error", traceback.format_exc()))
    finally:
        teardown()


class Child:
    """A spawned process holding one object; ``call(f, *args)`` runs ``f(object, *args)`` there."""

    def __init__(self, setup: Callable[[dict[str, Any]], Any], **options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, setup, options), daemon=True)
        self._lock = threading.Lock()
        self._process.start()
        if not self._conn.poll(180):
            self._process.kill()
            raise RuntimeError("the child process did not start within 180 s")
        self.info: dict[str, Any] = self._conn.recv()
        self.pid: int = self.info["pid"]

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            self._conn.send((function, args))
            status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"in process {self.pid}:\n{value}")
        return value

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send((None, ()))
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Fakes:
    slack: Any
    aws: Any


def fakes_setup(options: dict[str, Any]) -> tuple[Fakes, dict[str, Any], Callable[[], None]]:
    """(Child) the fake Slack Web API and moto, seeded with the demo's cast, people and nodes, and with
    ``people`` bench people (``workload.seed_people``: a requester, an IAM role and a node each)."""
    import workload

    from fakes.aws import FakeAws
    from fakes.slack_api import FakeSlack
    from fakes.stack import seed_aws, seed_slack

    slack = FakeSlack().start()
    seed_slack(slack)
    aws = FakeAws().start()
    nodes = seed_aws(aws)
    for name in options.get("roles", ()):
        aws.create_role(name)
    fakes = Fakes(slack, aws)
    nodes.update(workload.seed_people(fakes, int(options.get("people", 0))))

    def stop() -> None:
        slack.stop()
        aws.stop()

    return fakes, {"slack_url": slack.url, "aws_url": aws.endpoint_url, "nodes": nodes}, stop


def set_delay(fakes: Fakes, seconds: float) -> None:
    """(Fakes process) every Slack and AWS call answered after ``seconds``."""
    fakes.slack.delay = seconds
    fakes.aws.delay = seconds


def clear_slack(fakes: Fakes) -> int:
    """(Fakes process) forget the recorded Slack calls (they accumulate); returns how many there were."""
    count = len(fakes.slack.calls)
    fakes.slack.clear()
    return count


class SlackAt:
    """The fake Slack of another process, as ``Stack`` uses it (its URL and team)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.team_id, self.team_domain, self.app_id, self.bot_user_id = "T0JITBOT", "jitbot-test", "A0JITBOT", "UJITBOT"

    def make_response_url(self) -> None:
        return None


class AwsAt:
    """The moto of another process, as ``Stack`` uses it (its endpoint, and sessions in the home account)."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def session(self, account: str | None = None) -> Any:
        import boto3

        return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name="us-east-1")


def bot_setup(options: dict[str, Any]) -> tuple[Any, dict[str, Any], Callable[[], None]]:
    """(Child) the whole bot (``fakes.stack.Stack``: composition root, waitress, scheduler, SQLite) talking
    to the fakes of another process. ``hooks_url`` (required; None when no delivery is sent to this bot): the
    origin of the load generator's ``receiver()``, the bot's ``slack_hooks_url`` (else it would refuse to answer
    there and DM instead); ``backend``: "module:function" building an in-process AccessBackend and
    NodeDirectory instead of the real AwsGateway; ``database_url``: an existing database to use;
    ``listener_workers``: the size of Bolt's listener pool (the figures before it was sized to the HTTP server)."""
    from bot.server import settle_memory
    from fakes.stack import Stack

    profiles = _profile_threads() if os.environ.get(CPROFILE) else None
    workdir = Path(options.get("workdir") or scratch("bot"))
    backend = options.get("backend")
    settings = dict(options.get("settings") or {})
    if options["hooks_url"] is not None:
        settings["slack_hooks_url"] = options["hooks_url"]
    if options.get("listener_workers"):  # reproduce an earlier composition root: Bolt's pool of that many workers
        import bot.app

        workers = int(options["listener_workers"])
        bot.app.ThreadPoolExecutor = lambda **kw: ThreadPoolExecutor(**{**kw, "max_workers": workers})  # type: ignore[attr-defined,assignment]

    class BenchStack(Stack):
        def aws_gateway(self, settings: Any, policies: Any) -> Any:
            if backend is None:
                return super().aws_gateway(settings, policies)
            module, _, name = backend.partition(":")
            return getattr(__import__(module, fromlist=[name]), name)(self)

    stack = BenchStack(workdir, slack=SlackAt(options["slack_url"]), aws=AwsAt(options["aws_url"]),  # type: ignore[arg-type]
                       nodes=options["nodes"], sweep_seconds=float(options.get("sweep_seconds", 5.0)),
                       policies=options.get("policies"), settings=settings,
                       database_url=options.get("database_url"))
    stack.start()
    settle_memory()  # as ``jitbot serve`` does once started

    def stop() -> None:
        stack.stop()
        if profiles is not None:
            _save_profiles(profiles, os.environ[CPROFILE])
        if not options.get("workdir"):
            shutil.rmtree(workdir, ignore_errors=True)

    return stack, {"url": stack.app_url, "secret": stack.signing_secret, "database_url": stack.database_url}, stop


class Deployment:
    """The fakes in one process, the bot in another: ``fakes.call(...)``, ``bot.call(...)``, ``url``, ``secret``;
    and, in this process, the ``receiver`` of the bot's answers (the bot's ``slack_hooks_url``): drive the bot
    with ``users()``."""

    def __init__(self, fake_options: dict[str, Any] | None = None, people: int = 0, **bot_options: Any) -> None:
        import workload

        if people:
            bot_options.setdefault("policies", workload.policies_text(people))
        self.receiver = receiver()
        try:
            self.fakes = Child(fakes_setup, people=people, **(fake_options or {}))
        except BaseException:
            self.receiver.stop()
            raise
        try:
            self.nodes: dict[str, str] = self.fakes.info["nodes"]
            self.bot = Child(bot_setup, slack_url=self.fakes.info["slack_url"], aws_url=self.fakes.info["aws_url"],
                             nodes=self.nodes, hooks_url=self.receiver.base_url, **bot_options)
        except BaseException:
            self.fakes.close()
            self.receiver.stop()
            raise
        self.url: str = self.bot.info["url"]
        self.secret: str = self.bot.info["secret"]
        self.database_url: str = self.bot.info["database_url"]
        self.pids: list[int] = [self.bot.pid]
        self.profiler = profile(self.bot.pid)

    def users(self) -> Users:
        """Signed deliveries to the bot, its answers read on ``receiver`` (closing the Users stops it)."""
        return Users(self.url, self.secret, self.receiver)

    def close(self) -> None:
        if self.profiler is not None:
            stop_profile(self.profiler)
        self.bot.close()
        self.fakes.close()
        self.receiver.stop()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


PROFILE = "JITBOT_BENCH_PROFILE"
CPROFILE = "JITBOT_BENCH_CPROFILE"


def _profile_threads() -> list[Any]:
    """(Bot process, with ``JITBOT_BENCH_CPROFILE=<file>`` set) cProfile every thread started from now on (the
    whole bot: it starts its threads after this), in CPU time per thread; ``_save_profiles`` merges them into
    ``<file>`` (pstats) when the bot stops. Deterministic, and so slow: the bot spends about three times the
    CPU, so a profiled run's figures do not count; compare shares and calls per cycle, not times."""
    import cProfile

    profiles: list[Any] = []
    lock = threading.Lock()

    def start(*_: object) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU time of the thread, not the wall clock
        with lock:
            profiles.append(profile)
        profile.enable()  # replaces this hook, in this thread only

    threading.setprofile(start)
    return profiles


def _save_profiles(profiles: list[Any], output: str) -> None:
    import pstats

    threading.setprofile(None)  # type: ignore[arg-type]
    merged: pstats.Stats | None = None
    for profile in profiles:
        profile.create_stats()
        if profile.stats:
            merged = pstats.Stats(profile) if merged is None else merged.add(profile)
    if merged is not None:
        merged.dump_stats(output)


def profile(pid: int) -> subprocess.Popen[bytes] | None:
    """With ``JITBOT_BENCH_PROFILE=<file>`` set (and py-spy installed: ``pip install py-spy``), sample the bot's
    process ``pid`` from now until the deployment closes, into ``<file>`` as collapsed stacks (one line per
    stack, its count last), 100 times a second (``JITBOT_BENCH_PROFILE_RATE``), without pausing it, of the
    thread holding the interpreter lock: where the bot runs Python (SQLite and the sockets work without it, so
    they are under-counted). It takes some of the machine's CPU: a profiled run's figures do not count."""
    output = os.environ.get(PROFILE)
    if not output:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    print(f"  profiling the bot (pid {pid}) into {output}", flush=True)
    rate = os.environ.get("JITBOT_BENCH_PROFILE_RATE", "100")
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--gil", "--nonblocking", "--format", "raw",
                             "--rate", rate, "--output", output], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profile(profiler: subprocess.Popen[bytes]) -> None:
    """End the sampling (py-spy writes its file on SIGINT)."""
    profiler.send_signal(signal.SIGINT)
    try:
        profiler.wait(timeout=60)
    except subprocess.TimeoutExpired:
        profiler.kill()


class StateReader:
    """Reads requests' state straight from the bot's database, from the load generator's process: plain
    SELECTs on a plain engine (on SQLite a WAL reader, which never waits for the bot's writers)."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import create_engine

        from store.engine import normalize_url

        self._engine = create_engine(normalize_url(database_url))

    def states(self, request_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """State and needs_cleanup of each request found."""
        from sqlalchemy import select

        from store.models import RequestRow

        query = select(RequestRow.id, RequestRow.state, RequestRow.needs_cleanup).where(
            RequestRow.id.in_(list(request_ids)))
        with self._engine.connect() as conn:
            return {rid: (str(state), bool(cleanup)) for rid, state, cleanup in conn.execute(query)}

    def close(self) -> None:
        self._engine.dispose()


def total_cpu(pids: Sequence[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def request_states(stack: Any, request_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
    """(Bot process) state and needs_cleanup of each request."""
    found: dict[str, tuple[str, bool]] = {}
    with stack.runtime.ctx.uow() as uow:
        for rid in request_ids:
            request = uow.repo.get(rid)
            if request is not None:
                found[rid] = (request.state.value, request.needs_cleanup)
    return found


def close_pending(stack: Any, request_ids: Sequence[str]) -> int:
    """(Bot process) bench housekeeping: mark pending requests cancelled straight in the store (no notices),
    so that the backlog of pending requests does not grow from one measurement to the next."""
    from datetime import UTC, datetime

    from core.model import Changes, State

    closed = 0
    now = datetime.now(UTC)
    with stack.runtime.ctx.uow() as uow:
        for rid in request_ids:
            request = uow.repo.get(rid)
            if request is not None:  # still pending, or the move changes nothing
                closed += uow.repo.move(request, State.CANCELLED, Changes(ended_at=now, end_reason="bench"))
        uow.commit()
    return closed


# --- Slack's side: signed requests, and a receiver for the answers sent to response_url --------------


def receiver() -> FakeSlack:
    """A started local FakeSlack standing in for Slack's response_url hooks (the bot answers slash commands and
    button clicks there), so the time to the answer can be measured next to the time to the ack.

    Start it BEFORE the bot and give the bot its origin, ``base_url`` (``hooks_url=`` of ``bot_setup``,
    ``SLACK_HOOKS_URL`` of ``jitbot serve``): jitbot answers a response_url only on Slack's hooks, on
    SLACK_API_URL's origin or on SLACK_HOOKS_URL's; anywhere else it DMs instead (handlers/tell.py), and every
    answer awaited here would be missing.
    """
    from fakes.slack_api import FakeSlack

    return FakeSlack().start()


class Users:
    """Signed Slack deliveries to the bot; each thread waits for the answer to its own last delivery, which
    the bot sends to ``receiver`` (see ``receiver()``: the bot must have been told its origin). Closing the
    Users stops the receiver."""

    def __init__(self, app_url: str, secret: str, receiver: FakeSlack) -> None:
        from fakes.slack_client import SlackSimulator

        self.receiver = receiver
        local = threading.local()
        self._local = local

        class Tracking(SlackSimulator):
            def _response_url(self) -> str | None:
                url = super()._response_url()
                local.url = url
                return url

            def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Any:
                local.sent = time.perf_counter()  # the body is built and signed: Slack's clock starts here
                return super()._post(url, body, headers)

        self.sim = Tracking(app_url, secret, self.receiver, timeout=30)

    def close(self) -> None:
        self.receiver.stop()

    def set_delay(self, seconds: float) -> None:
        self.receiver.delay = seconds

    def command(self, user: str, text: str) -> tuple[int, float]:
        """``/jit text`` as ``user``: (HTTP status, seconds from sending the request to reading the response,
        i.e. the ack; building and signing the request, the load generator's work, is not counted)."""
        response = self.sim.command(user, text)
        return response.status, time.perf_counter() - self._local.sent

    def click(self, user: str, action_id: str, value: str, channel: str) -> tuple[int, float]:
        response = self.sim.block_action(user, action_id, value, channel_id=channel)
        return response.status, time.perf_counter() - self._local.sent

    def answer(self, timeout: float = 30.0) -> str | None:
        """The text the bot sent to the response_url of this thread's last delivery (waits for it); None when
        nothing came within ``timeout`` seconds."""
        path = urlsplit(self._local.url).path
        try:
            call = self.receiver.wait_for(lambda c: c.method == "response_url" and c.path == path, timeout=timeout)
        except AssertionError:
            return None
        return str(call.params.get("text", ""))

    def reset(self) -> None:
        self.receiver.clear()


def in_parallel(clients: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for i in range(clients) on that many threads at once; their results in order."""
    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(work, range(clients)))
