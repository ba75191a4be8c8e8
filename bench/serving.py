"""``jitbot serve`` (the real CLI) as a subprocess against the fakes of a child process, the round-robin proxy in
front of several of them, and a PostgreSQL database of the benchmarks' own (created, then dropped)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import benchlib
from benchlib import Child

SECRET = "bench-secret"
#: the local PostgreSQL the tests use; the benchmarks create a database of their own on it, and drop it
POSTGRES = os.environ.get("JITBOT_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def command() -> list[str]:
    found = Path(sys.executable).with_name("jitbot")
    return [str(found), "serve"] if found.exists() else [sys.executable, "-m", "bot.cli", "serve"]


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0


class Serve:
    """One ``jitbot serve`` process; ``ready`` is the seconds from exec to /healthz?ready=1 answering 200 (NaN when
    it did not within ``timeout``). ``hooks_url`` (required; None when no delivery is sent to this process): its
    ``SLACK_HOOKS_URL``, the origin of the load generator's ``benchlib.receiver()`` where it answers."""

    def __init__(self, fakes: Child, database_url: str, workdir: Path, policies: Path | None = None,
                 timeout: float = 60.0, *, hooks_url: str | None, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        inherited = {name: value for name, value in os.environ.items() if name.upper() != "SLACK_HOOKS_URL"}
        if hooks_url is not None:
            env = {"SLACK_HOOKS_URL": hooks_url, **env}
        environment = {**inherited, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
                       "SLACK_API_URL": fakes.info["slack_url"], "DATABASE_URL": database_url,
                       "JIT_POLICIES": str(policies or benchlib.REPO / "policies.toml"), "HOST": "127.0.0.1",
                       "PORT": str(self.port), "LOG_LEVEL": "WARNING", "AWS_ENDPOINT_URL": fakes.info["aws_url"],
                       "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       **env}
        self.log_path = workdir / f"serve-{self.port}.log"
        self.log = self.log_path.open("wb")
        started = time.perf_counter()
        self.process = subprocess.Popen(command(), env=environment, cwd=workdir, stdout=self.log, stderr=self.log)
        self.pid = self.process.pid
        self.listening = self.ready = float("nan")
        while time.perf_counter() - started < timeout and self.process.poll() is None:
            status = get(f"{self.base}/healthz?ready=1")
            if status and self.listening != self.listening:
                self.listening = time.perf_counter() - started
            if status == 200:
                self.ready = time.perf_counter() - started
                break
            time.sleep(0.01)

    def rss_mib(self) -> float:
        return benchlib.vm_rss_kib(self.process.pid) / 1024

    def tail(self, lines: int = 20) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class Proxy:
    """bench/proxy.py in a process of its own, in front of ``backends`` (base URLs)."""

    def __init__(self, backends: list[str]) -> None:
        hosts = [b.removeprefix("http://") for b in backends]
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("proxy.py")), *hosts],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"
        self.pid = self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def postgres_database(tag: str) -> Iterator[str]:
    """A new database on the local PostgreSQL for this run (``jitbot_bench_<tag>_<pid>``), dropped afterwards;
    yields its URL. Nothing else on the server is touched."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(POSTGRES)
    name = f"jitbot_bench_{tag}_{os.getpid()}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Replicas:
    """Two (``count``) ``jitbot serve`` on one database behind the proxy: what the load generator drives
    (``url``, ``secret``, ``pids``: the replicas', ``fakes``); ``hooks_url`` as for ``Serve``."""

    def __init__(self, fakes: Child, database_url: str, workdir: Path, policies: Path, count: int = 2, *,
                 hooks_url: str | None, **env: Any) -> None:
        self.fakes = fakes
        self.secret = SECRET
        self.database_url = database_url
        self.serves: list[Serve] = []
        try:
            for _ in range(count):
                serve = Serve(fakes, database_url, workdir, policies, hooks_url=hooks_url, **env)
                self.serves.append(serve)
                if serve.ready != serve.ready:
                    raise RuntimeError(f"jitbot serve did not become ready:\n{serve.tail()}")
            self.proxy = Proxy([s.base for s in self.serves])
        except BaseException:
            self.stop()
            raise
        self.url = self.proxy.url
        self.pids = [s.pid for s in self.serves]

    def stop(self) -> None:
        if getattr(self, "proxy", None) is not None:
            self.proxy.stop()
        for serve in self.serves:
            serve.stop()
