"""Running the bot: waitress (a production-grade threaded WSGI server) in front of Bolt, or Socket Mode."""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import threading
from types import FrameType

from waitress.server import create_server

from bot.app import Runtime
from bot.edge import MAX_SLACK_BODY

log = logging.getLogger(__name__)

#: How waitress holds connections. A connection costs a socket and a little memory on waitress's one I/O
#: thread, never a worker thread, until its request has fully arrived: idle or trickling (slowloris) clients
#: only use up connections. The default limit (100) let 100 of them stop /healthz and Slack from getting in;
#: 1000 does not (poll(), not select(), whose descriptors end at 1024; the process needs ``ulimit -n`` above
#: it). A connection with no traffic for CHANNEL_TIMEOUT seconds is closed (checked every CLEANUP_INTERVAL).
#: Bodies are refused with 413 once the headers announce more than the Slack limit (waitress refuses
#: ``>= max_request_body_size``), before a byte of them is read; a chunked body is refused once that much of
#: it has arrived. docs/operations.md: the reverse proxy in front does the per-client limits.
SERVER_LIMITS: dict[str, int | bool] = {
    "connection_limit": 1000,
    "channel_timeout": 30,
    "cleanup_interval": 5,
    "asyncore_use_poll": True,
    "max_request_body_size": MAX_SLACK_BODY + 1,
    "max_request_header_size": 64 * 1024,
}


class HttpServer:
    """waitress on a background thread; ``port`` is the bound port (useful with port 0)."""

    def __init__(self, runtime: Runtime, host: str, port: int, threads: int = 16) -> None:
        self._server = create_server(runtime.wsgi, host=host, port=port, threads=threads, ident="jitbot",
                                     clear_untrusted_proxy_headers=True, **SERVER_LIMITS)
        self.port: int = self._server.effective_port
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._stopped = False

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Let in-flight requests finish, then close the sockets from the server's own loop thread
        (closing them from here races the loop's select() and fails with EBADF)."""
        if self._stopped:  # a second stop (a test's own, then its fixture's) has nothing left to close
            return
        self._stopped = True
        self._server.task_dispatcher.shutdown(timeout=10)
        if self._thread.is_alive():
            with contextlib.suppress(OSError):  # EBADF: the loop ended and closed its trigger meanwhile
                self._server.trigger.pull_trigger(self._server.close)
            self._thread.join(timeout=5)


def settle_memory() -> None:
    """Once built and started: collect, then freeze what is alive (modules, the app, caches) out of the cycle
    collector's reach. Its full collections otherwise walked every one of those objects each time, pausing
    all threads for 80-150 ms (acks included: BENCHMARKS.md); frozen, they take 15-20 ms."""
    gc.collect()
    gc.freeze()


def serve(runtime: Runtime) -> None:
    """Run until SIGTERM/SIGINT, then stop taking requests, finish the scheduler's jobs, release the DB.
    SIGHUP checks the policy file at once (bot.policies)."""
    settings = runtime.settings
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal received, shutting down", extra={"signal": signum})
        stopping.set()

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        log.info("SIGHUP received, checking the policy file")
        if runtime.policy_watch is not None:
            runtime.policy_watch.request_reload()  # the watch thread loads it: no I/O in a signal handler

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    runtime.start()
    settle_memory()
    app_token = settings.secret("slack_app_token")
    if app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket = SocketModeHandler(runtime.app, app_token)
        socket.connect()  # type: ignore[no-untyped-call]
        log.info("connected to Slack by Socket Mode")
        stopping.wait()
        socket.close()  # type: ignore[no-untyped-call]
    else:
        http = HttpServer(runtime, settings.host, settings.port, settings.http_threads).start()
        log.info("listening", extra={"host": settings.host, "port": http.port})
        stopping.wait()
        http.stop()
    runtime.stop()
    log.info("stopped")
