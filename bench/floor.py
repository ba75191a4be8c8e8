"""The floor: a bare Slack Bolt app on the same HTTP server as jitbot, answering ``ack()`` and nothing else.

Same Bolt options as jitbot's composition root (``bot.app.build``: a WebClient on the fake Slack, token
verification off, ``process_before_response=True``), the same Bolt WSGI adapter, waitress with jitbot's default
16 threads, in a process of its own; one listener for ``/jit`` and one for any button, each calling ``ack()``.
What jitbot's ack costs above this is jitbot's; this is what Bolt, waitress and the machine cost.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from typing import Any


def floor_setup(options: dict[str, Any]) -> tuple[Any, dict[str, Any], Callable[[], None]]:
    """(Child) the bare Bolt app served by waitress on a loopback port."""
    from slack_bolt import Ack, App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient
    from waitress.server import create_server

    from bot.server import settle_memory

    secret = options.get("secret") or secrets.token_hex(16)
    client = WebClient(token="xoxb-floor", base_url=options["slack_url"])
    app = App(client=client, signing_secret=secret, token_verification_enabled=False, process_before_response=True)

    @app.command("/jit")
    def command(ack: Ack) -> None:
        ack()

    @app.action(re.compile(".*"))
    def action(ack: Ack) -> None:
        ack()

    handler = SlackRequestHandler(app)
    server = create_server(handler, host="127.0.0.1", port=0, threads=int(options.get("threads", 16)),
                           ident="floor", clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=server.run, name="http", daemon=True)
    thread.start()
    settle_memory()  # as jitbot serve does

    def stop() -> None:
        server.task_dispatcher.shutdown(timeout=5)
        server.trigger.pull_trigger(server.close)
        thread.join(timeout=5)

    return server, {"url": f"http://127.0.0.1:{server.effective_port}", "secret": secret}, stop
