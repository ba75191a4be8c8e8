"""Small helpers for the end-to-end tests: polling, Block Kit validation, reading state."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from core.model import AccessRequest, AuditEvent
from fakes.stack import REPO_POLICIES, Stack

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05,
               what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def valid_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parse with slack_sdk.models and render back: raises on any malformed block or element."""
    parsed = Block.parse_all(blocks)
    assert len(parsed) == len(blocks)
    rendered = [b.to_dict() for b in parsed]  # to_dict() validates nested elements and lengths
    assert rendered == blocks, "a block did not round-trip through slack_sdk.models"
    return rendered


def valid_view(view: dict[str, Any]) -> dict[str, Any]:
    parsed = View(**view)
    rendered = parsed.to_dict()
    valid_blocks(view.get("blocks", []))
    return rendered


def request(stack: Stack, request_id: str) -> AccessRequest:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        found = uow.repo.get(request_id)
    assert found is not None, f"no request {request_id}"
    return found


def events(stack: Stack, request_id: str) -> list[AuditEvent]:
    assert stack.runtime is not None
    with stack.runtime.ctx.uow() as uow:
        return uow.repo.events(request_id)


def approval_post(stack: Stack, channel: str, after: int = 0) -> dict[str, Any]:
    """The newest approval message posted in ``channel`` (with buttons), validated."""
    call = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("channel") == channel
                                and "blocks" in c.params and "thread_ts" not in c.params and c.at >= after,
                                timeout=10)
    valid_blocks(call.params["blocks"])
    return call.params


def button_value(params: dict[str, Any], action_id: str) -> str:
    for block in params["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button in the message")


def serve_env(tmp_path: Path, slack_url: str, aws_env: dict[str, str], port: int, token: str,
              **extra: str) -> dict[str, str]:
    """The environment of a ``jitbot serve`` subprocess on the repository's policy file (copied to ``tmp_path``,
    where the test may edit it) and a SQLite file, against the fakes; ``extra`` adds or overrides variables."""
    policies = tmp_path / "policies.toml"
    if not policies.exists():
        policies.write_text(REPO_POLICIES.read_text("utf-8"), "utf-8")
    return {**os.environ, **aws_env, "SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": slack_url, "DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}",
            "JIT_POLICIES": str(policies), "HOST": "127.0.0.1", "PORT": str(port), "LOG_FORMAT": "json", **extra}
