"""What ``jitbot --version`` prints: the installed package's version and the commit it was built from."""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: set by the image at build time (``docker build --build-arg JITBOT_COMMIT=$(git rev-parse HEAD)``)
COMMIT_VARIABLE = "JITBOT_COMMIT"


def commit() -> str:
    """The commit baked into the image, else the checkout's HEAD when run from one, else ``unknown``."""
    baked = os.environ.get(COMMIT_VARIABLE, "").strip()
    if baked and baked != "unknown":
        return baked
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / ".git").exists():  # a directory, or a file in a git worktree
        try:
            head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],  # noqa: S603, S607
                                  capture_output=True, text=True, timeout=5, check=True)
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        return head.stdout.strip() or "unknown"
    return "unknown"


def version_text() -> str:
    try:
        number = version("jitbot")
    except PackageNotFoundError:
        number = "unknown"
    return f"jitbot {number} (commit {commit()})"
