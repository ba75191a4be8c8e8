"""Fixtures of the playground's tests: the playground on the session's fakes, served on a free loopback port, and
(for the ``browser`` tests) a headless Chromium driven by Playwright.

The browser is the system's (Debian's ``chromium``, ``.ci/run`` installs it where apt can): Playwright's own
browser downloads are not used. Where there is no Chromium or no Playwright, the browser tests are skipped and
say why.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakes.aws import FakeAws
from fakes.slack_api import FakeSlack
from playground.server import PlaygroundServer
from playground.world import Playground

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Served:
    world: Playground
    server: PlaygroundServer

    @property
    def url(self) -> str:
        return self.server.url

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.url.rstrip("/") + path, headers=headers or {})  # noqa: S310
        return _send(request)

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 (loopback)
            self.url.rstrip("/") + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", **(headers or {})})
        return _send(request)


def _send(request: urllib.request.Request) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
            status, body, kind = answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        status, body, kind = error.code, error.read(), error.headers.get("Content-Type", "")
    return status, json.loads(body) if kind.startswith("application/json") else body.decode()


@pytest.fixture
def served(fake_slack: FakeSlack, fake_aws: tuple[FakeAws, dict[str, str]], tmp_path: Path) -> Iterator[Served]:
    aws, nodes = fake_aws
    fake_slack.clear()
    world = Playground(tmp_path, slack=fake_slack, aws=aws, nodes=nodes).start()
    server = PlaygroundServer(world, 0)
    server.serve_in_thread()
    try:
        yield Served(world, server)
    finally:
        server.shutdown()
        server.server_close()
        world.stop()


def chromium_path() -> str | None:
    found = os.environ.get("JITBOT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and Path(found).exists() else None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests skipped: Playwright is not installed (pip install -e '.[browser]')")
    path = chromium_path()
    if path is None:
        pytest.skip("browser tests skipped: no Chromium found (apt-get install chromium, or set JITBOT_CHROMIUM)")
    with sync_playwright() as driver:
        try:
            browser = driver.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        except Exception as err:  # a Chromium that cannot start here (no shared libraries…): say so, skip
            pytest.skip(f"browser tests skipped: Chromium at {path} did not start: {str(err).splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (nothing remembered of the previous test), as wide as a laptop screen."""
    context = chromium.new_context(viewport={"width": 1600, "height": 940})
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    try:
        yield opened
    finally:
        context.close()
