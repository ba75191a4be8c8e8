"""The policy file in force, and reloading it while jitbot runs (``POLICY_POLL_SECONDS``, SIGHUP).

A version is the SHA-256 of the file's bytes. ``PolicyHolder`` swaps a new version in (one reference
assignment, so a reader sees the old policies or the new ones, never a mix) only when it loads without error:
a broken or missing file never replaces a good one. ``PolicyWatch`` is one daemon thread per process (every
replica evaluates policies, not only the scheduler's) that checks the file: its stat (device, inode, mtime,
size) first, the content hash second, so that rewriting identical bytes is no change.

Every outcome is audited with ``request_id`` None and actor ``jitbot``: ``policies_loaded`` at start, then
``policies_reloaded`` or ``policies_reload_failed``; the reload's event is written before the swap, so no
version is ever in force without its record (if the database refuses it, the next check tries again). The
replica that runs the scheduler also posts one line to the audit channel; a rejected version is reported once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from slack_sdk import WebClient

from core.audit import Action
from core.context import Context, record
from core.i18n import ENGLISH, Tr
from core.policy import PolicyError, PolicyFile
from core.policy.loader import parse_policy_bytes, read_policy_file
from handlers.text import safe

log = logging.getLogger(__name__)

#: the located errors quoted in the audit channel (all of them go to the log and the audit event)
SLACK_ERRORS = 3
SLACK_ERROR_CHARS = 1500

#: (device, inode, mtime in ns, size); None when the file cannot be stat'ed
Signature = tuple[int, int, int, int] | None


@dataclass(frozen=True)
class PolicyVersion:
    sha256: str
    policies: PolicyFile

    @property
    def short(self) -> str:
        return self.sha256[:12]

    def counts(self) -> dict[str, int]:
        """Policies of each kind; Cedar ``forbid`` statements count as deny, ``permit`` as auto."""
        p, cedar = self.policies, self.policies.cedar
        return {"deny": len(p.deny) + (len(cedar.forbids) if cedar else 0),
                "auto": len(p.auto_approval) + (len(cedar.permits) if cedar else 0),
                "manual": len(p.manual_approval)}

    def summary(self, tr: Tr = ENGLISH) -> str:
        counts = self.counts()
        return tr("{deny} deny, {auto} auto, {manual} manual", deny=counts["deny"], auto=counts["auto"],
                  manual=counts["manual"])


@dataclass(frozen=True)
class Reloaded:
    old: PolicyVersion
    new: PolicyVersion


@dataclass(frozen=True)
class Rejected:
    #: the SHA-256 of the bytes that failed to load; None when the file could not be read at all
    sha256: str | None
    errors: tuple[str, ...]
    current: PolicyVersion

    @property
    def key(self) -> str:
        """What "the same bad version" means: the same bytes, or the same reason the file cannot be read."""
        return self.sha256 or "unreadable: " + "; ".join(self.errors)

    def label(self, tr: Tr = ENGLISH) -> str:
        return f"sha256 {self.sha256[:12]}…" if self.sha256 else tr("the file cannot be read")


Outcome = Reloaded | Rejected


class Reporter(Protocol):
    def record(self, outcome: Outcome) -> None:
        """Audit the outcome; raising keeps things as they are, and the next check tries again."""

    def announce(self, outcome: Outcome) -> None:
        """Log it and tell people; never raises."""


def signature(path: Path) -> Signature:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class PolicyHolder:
    """The policies in force (``holder()``), their ``version``, and ``check``: load the file again if it changed.

    The constructor raises ``PolicyError`` (located) when the file does not load: jitbot does not start on it.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen: Signature = signature(self.path)
        data = read_policy_file(self.path)
        self._version = PolicyVersion(hashlib.sha256(data).hexdigest(), parse_policy_bytes(data, str(self.path)))
        self._rejected: str | None = None
        self._retry = False
        self._lock = threading.Lock()  # one check at a time: the watch thread, SIGHUP, tests
        self.reporter: Reporter | None = None

    def __call__(self) -> PolicyFile:
        return self._version.policies

    @property
    def version(self) -> PolicyVersion:
        return self._version

    def reload(self) -> PolicyFile:
        """Check the file now, even if its stat looks unchanged; returns the policies in force after it."""
        self.check(force=True)
        return self()

    def check(self, *, force: bool = False) -> Outcome | None:
        """Load the file if it changed: ``Reloaded`` (swapped in), ``Rejected`` (reported for the first time),
        or None (no change, or a bad version already reported)."""
        with self._lock:
            seen = signature(self.path)
            if seen == self._seen and not (force or self._retry):
                return None
            self._seen, self._retry = seen, False
            outcome = self._load(force)
            if outcome is None:
                return None
            if self.reporter is not None:
                try:
                    self.reporter.record(outcome)
                except Exception:  # no swap without its audit event
                    log.exception("could not audit the policy file change; the next check tries again")
                    self._retry = True
                    return None
            if isinstance(outcome, Reloaded):
                self._version, self._rejected = outcome.new, None
            else:
                self._rejected = outcome.key
            if self.reporter is not None:
                self.reporter.announce(outcome)
            return outcome

    def _load(self, force: bool) -> Outcome | None:
        current = self._version
        try:
            data = read_policy_file(self.path)
        except PolicyError as err:
            return self._rejection(Rejected(None, tuple(err.errors), current), force)
        sha256 = hashlib.sha256(data).hexdigest()
        if not data.strip():  # an editor truncates before it writes: never swap in "no policies at all"
            return self._rejection(Rejected(sha256, ("the policy file is empty (a write in progress?); a policy "
                                                     "file with nothing in it is never loaded while running",),
                                            current), force)
        if sha256 == current.sha256:
            if self._rejected is not None or force:
                log.info("the policy file is the version in force", extra={"sha256": sha256})
            self._rejected = None
            return None
        try:
            fresh = parse_policy_bytes(data, str(self.path))
        except PolicyError as err:
            return self._rejection(Rejected(sha256, tuple(err.errors), current), force)
        except Exception as err:  # whatever went wrong, a file that did not load replaces nothing
            return self._rejection(Rejected(sha256, (f"{type(err).__name__}: {err}",), current), force)
        return Reloaded(current, PolicyVersion(sha256, fresh))

    def _rejection(self, rejected: Rejected, force: bool) -> Rejected | None:
        if rejected.key != self._rejected:
            return rejected
        if force:  # asked again (SIGHUP): say it again in the log, but audit and post it only once
            log.error("the policy file is still rejected; the previous version stays in force",
                      extra={"sha256": rejected.sha256, "errors": list(rejected.errors),
                             "in_force": rejected.current.sha256})
        return None


class PolicyWatch:
    """Checks the holder's file every ``interval`` seconds (0: only on ``request_reload``, i.e. SIGHUP) on a
    daemon thread, and audits, logs and announces what it finds (the holder's ``Reporter``)."""

    def __init__(self, holder: PolicyHolder, ctx: Context, client: WebClient, interval: float,
                 leading: Callable[[], bool] = lambda: True) -> None:
        self.holder = holder
        self.ctx = ctx
        self.client = client
        self.interval = interval
        self.leading = leading
        self._wake = threading.Event()
        self._forced = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        holder.reporter = self

    def start(self) -> None:
        """Audit the version in force (``policies_loaded``), then watch."""
        version = self.holder.version
        try:
            with self.ctx.uow() as uow:
                record(uow, None, "jitbot", Action.POLICIES_LOADED, self.ctx.clock.now(), sha256=version.sha256,
                       path=str(self.holder.path), **version.counts())
                uow.commit()
        except Exception:  # the bot still serves; the log says which version it runs
            log.exception("could not audit the policy file loaded at start")
        log.info("policy file loaded", extra={"sha256": version.sha256, "path": str(self.holder.path),
                                              **version.counts()})
        self._stopping = False
        self._wake.clear()
        self._thread = threading.Thread(target=self._run, name="policy-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def request_reload(self) -> None:
        """Check the file at once, even if its stat looks unchanged (the SIGHUP handler calls this)."""
        self._forced = True
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval if self.interval > 0 else None)
            self._wake.clear()
            if self._stopping:
                return
            forced, self._forced = self._forced, False
            try:
                self.holder.check(force=forced)
            except Exception:  # a surprise must not end the watch
                log.exception("policy file check failed")

    # Reporter ----------------------------------------------------------------------------------------
    def record(self, outcome: Outcome) -> None:
        path = str(self.holder.path)
        with self.ctx.uow() as uow:
            if isinstance(outcome, Reloaded):
                record(uow, None, "jitbot", Action.POLICIES_RELOADED, self.ctx.clock.now(), path=path,
                       old_sha256=outcome.old.sha256, sha256=outcome.new.sha256, **outcome.new.counts())
            else:
                record(uow, None, "jitbot", Action.POLICIES_RELOAD_FAILED, self.ctx.clock.now(), path=path,
                       sha256=outcome.sha256, errors=list(outcome.errors), in_force=outcome.current.sha256)
            uow.commit()

    def announce(self, outcome: Outcome) -> None:
        """One line to the audit channel, in the language of channel messages (of the version now in force)."""
        tr = self.ctx.tr_channel()
        if isinstance(outcome, Reloaded):
            log.info("policy file reloaded", extra={"old_sha256": outcome.old.sha256,
                                                    "sha256": outcome.new.sha256, **outcome.new.counts()})
            channel = outcome.new.policies.settings.audit_channel
            text = tr(":scroll: Policy file reloaded (sha256 {old}… → {new}…): {summary}.", old=outcome.old.short,
                      new=outcome.new.short, summary=outcome.new.summary(tr))
        else:
            log.error("policy file change rejected; the previous version stays in force",
                      extra={"sha256": outcome.sha256, "errors": list(outcome.errors),
                             "in_force": outcome.current.sha256})
            channel = outcome.current.policies.settings.audit_channel
            shown = "; ".join(outcome.errors[:SLACK_ERRORS])
            if len(outcome.errors) > SLACK_ERRORS:
                shown += tr(" (and {count} more)", count=len(outcome.errors) - SLACK_ERRORS)
            text = tr(":warning: Policy file change rejected ({label}): {errors}. The previous version ({version}…) "
                      "stays in force.", label=outcome.label(tr), errors=safe(shown.rstrip("."), SLACK_ERROR_CHARS),
                      version=outcome.current.short)
        if channel is None:
            return
        try:
            if self.leading():  # one post per change, from the replica that runs the scheduler
                self.client.chat_postMessage(channel=channel, text=text, unfurl_links=False)
        except Exception as err:  # the audit event is written; a Slack failure loses only the line
            log.error("could not post the policy file change to the audit channel", extra={"error": str(err)})
