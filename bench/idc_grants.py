"""Identity Center grants against moto: (a) the last approval to usable access, (b) expiry to access gone.

N people, each a distinct Slack requester (``U0BN00000`` …, email ``bench0@example.com`` …) known only to IAM
Identity Center (an Identity Store user with that email, in group data-engineers; no ``[identities]`` entry), ask
for a node of their own (``bench-data-00000`` …, tagged like the demo's data-1) under the demo's policy
"data-platform" (``fakes.demo.IDENTITY_CENTER_TABLES``: one level, a member of idc-group:data-leads). Carol's
Approve click is the last approval; jitbot then grants through aws/identity_center.py: a permission set per
request with the expiring statement, assigned to the person and provisioned in the node's account.

The bot is the real one (composition root, scheduler, SQLite) in one process; moto and the fake Slack in another,
where a watcher reads moto's Identity Center every ``TICK`` seconds and notes when each permission set is first
usable (assigned, and its role in the account holds the ``aws:CurrentTime`` statement) and when it is gone (no
role in the account, and the permission set deleted). The figures are therefore precise to one tick.

(a) = usable - the moment the last Approve click was sent; (b) = gone - the request's ``expires_at``.
Every request must be submitted and granted with the expected answers, every grant usable, expired and removed
(state expired, no cleanup pending, no permission set left), or the run is invalid (exit 1).

    python bench/idc_grants.py [--people N] [--smoke]
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import benchlib
import workload
from benchlib import Child, Spread, Users, in_parallel, show
from workload import Validity

from handlers import ids

TICK = 0.02  # seconds between two reads of moto by the watcher
LEAD = "U0CAROL01"  # Carol: the Identity Store user carol@example.com, in group data-leads
CHANNEL = "C0DATAAPR"
GONE_WITHIN = 60.0  # seconds after the last expiry to wait for every permission set to go
DATA_TAGS = {"Environment": "analytics", "Team": "data"}


def node(i: int) -> str:
    return f"bench-data-{i:05d}"


SUBMITTED = re.compile(r"^Request \*(R[0-9A-HJKMNP-TV-Z]{8})\* for .* submitted under policy 'data-platform'\.")


class Watched:
    """(Fakes process) the fakes, and when each of moto's Identity Center permission sets became usable and went."""

    def __init__(self, fakes: benchlib.Fakes, instance: str) -> None:
        self.fakes, self.instance = fakes, instance
        self.usable: dict[str, float] = {}  # permission set name → time.time() first seen usable
        self.gone: dict[str, float] = {}  # permission set name → time.time() first seen gone (after usable)
        self._names: dict[str, str] = {}  # ARN → name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="idc-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        aws = self.fakes.aws
        sso = aws.client("sso-admin")
        store = aws._store  # the extension's record of provisioned roles: (permission set ARN, account) → policy
        while not self._stop.wait(TICK):
            arns = set(sso.list_permission_sets(InstanceArn=self.instance, MaxResults=100)["PermissionSets"])
            with store.lock:
                roles = {arn: policy for (arn, account), policy in store.idc_roles.items() if account == aws.account}
            now = time.time()
            for arn in arns - self._names.keys():
                self._names[arn] = sso.describe_permission_set(
                    InstanceArn=self.instance, PermissionSetArn=arn)["PermissionSet"]["Name"]
            for arn, name in self._names.items():
                if name not in self.usable and "aws:CurrentTime" in (roles.get(arn) or ""):
                    self.usable[name] = now
                elif name in self.usable and name not in self.gone and arn not in arns and arn not in roles:
                    self.gone[name] = now

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def fakes_setup(options: dict[str, Any]) -> tuple[Watched, dict[str, Any], Callable[[], None]]:
    """(Child) the fake Slack and moto as the demo seeds them, its Identity Center cast, and ``people`` bench people
    known to Identity Center only, each with a node tagged like data-1; a ``Watched`` on moto."""
    from fakes.aws import FakeAws
    from fakes.aws_identity import add_idc_user
    from fakes.slack_api import FakeSlack
    from fakes.stack import seed_aws, seed_identity_center, seed_slack

    slack = FakeSlack().start()
    seed_slack(slack)
    aws = FakeAws().start()
    nodes = seed_aws(aws)
    seed = seed_identity_center(aws)
    identitystore = aws.client("identitystore")
    for i in range(int(options["people"])):
        email = f"bench{i}@example.com"
        slack.add_user(workload.person(i), email=email, name=f"Bench {i}", title="Engineer")
        user_id = add_idc_user(aws, seed.identity_store_id, email, email)
        identitystore.create_group_membership(IdentityStoreId=seed.identity_store_id,
                                              GroupId=seed.groups["data-engineers"], MemberId={"UserId": user_id})
        nodes[node(i)] = aws.add_instance(name=node(i), tags=DATA_TAGS)
    watched = Watched(benchlib.Fakes(slack, aws), seed.instance_arn)

    def stop() -> None:
        watched.close()
        slack.stop()
        aws.stop()

    return watched, {"slack_url": slack.url, "aws_url": aws.endpoint_url, "nodes": nodes,
                     "instance": seed.instance_arn, "store": seed.identity_store_id, "region": aws.region}, stop


def watched_times(watched: Watched) -> tuple[dict[str, float], dict[str, float], int]:
    """(Fakes process) usable and gone times by permission set name, and how many permission sets moto holds."""
    return dict(watched.usable), dict(watched.gone), len(watched.fakes.aws.permission_sets())


def ends(stack: Any, request_ids: Sequence[str]) -> dict[str, tuple[str, bool, float | None]]:
    """(Bot process) state, needs_cleanup and expires_at (epoch seconds) of each request."""
    found: dict[str, tuple[str, bool, float | None]] = {}
    with stack.runtime.ctx.uow() as uow:
        for rid in request_ids:
            request = uow.repo.get(rid)
            if request is not None:
                expires = request.expires_at.timestamp() if request.expires_at else None
                found[rid] = (request.state.value, request.needs_cleanup, expires)
    return found


def grant(users: Users, i: int, window: int, validity: Validity) -> tuple[str, float] | None:
    """Person i's request and Carol's approval: (request id, time.time() when the Approve click was sent)."""
    status, _ = users.command(workload.person(i), f"request {node(i)} {window}s idc bench {i}")
    text = users.answer() if validity.status("/jit request", status) else None
    found = validity.answer("/jit request", text, SUBMITTED) if status == 200 else None
    if not found:
        return None
    rid = found.group(1)
    approved = time.time()
    status, _ = users.click(LEAD, ids.APPROVE, rid, CHANNEL)
    text = users.answer() if validity.status("Approve", status) else None
    if status != 200 or not validity.answer("Approve", text, workload.granted(rid)):
        return None
    return rid, approved


def policies(info: dict[str, Any]) -> str:
    from fakes.demo import IDENTITY_CENTER_TABLES

    return (benchlib.REPO / "policies.toml").read_text("utf-8") + IDENTITY_CENTER_TABLES.format(
        instance=info["instance"], store=info["store"], region=info["region"])


def row(label: str, values: Sequence[float]) -> list[object]:
    spread = Spread.of(values)
    return [label, spread.n, benchlib.ms(spread.p50), benchlib.ms(spread.p99), benchlib.ms(spread.max)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--window", type=int, default=20, help="seconds of access per grant")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the workload, not the figures")
    args = parser.parse_args(argv)
    if args.smoke:
        args.people, args.window = 2, 5
    started = benchlib.banner(f"Identity Center grants against moto ({args.people} people, SQLite)")
    validity = Validity("idc grants")
    hooks = benchlib.receiver()
    with Child(fakes_setup, people=args.people) as fakes:
        bot = Child(benchlib.bot_setup, slack_url=fakes.info["slack_url"], aws_url=fakes.info["aws_url"],
                    nodes=fakes.info["nodes"], policies=policies(fakes.info), hooks_url=hooks.base_url,
                    sweep_seconds=5.0)
        users = Users(bot.info["url"], bot.info["secret"], hooks)
        try:
            outcomes = in_parallel(args.people, lambda i: grant(users, i, args.window, validity))
            granted = {rid: approved for rid, approved in filter(None, outcomes)}
            validity.count("requests not granted", args.people - len(granted))
            deadline = time.time() + args.window + GONE_WITHIN
            while time.time() < deadline:
                usable, gone, left = fakes.call(watched_times)
                if len(gone) >= len(granted) and left == 0:
                    break
                time.sleep(0.5)
            time.sleep(1.0)  # the store's last writes after the last removal
            usable, gone, left = fakes.call(watched_times)
            states = bot.call(ends, list(granted))
        finally:
            users.close()
            bot.close()
    to_usable, to_gone = [], []
    for rid, approved in granted.items():
        name = f"jitbot-{rid}"
        state, cleanup, expires = states.get(rid, ("missing", False, None))
        if name in usable:
            to_usable.append(usable[name] - approved)
        else:
            validity.bad("grant", "permission set never seen usable in moto")
        if name in gone and expires is not None:
            to_gone.append(gone[name] - expires)
        else:
            validity.bad("expiry", "permission set or assignment still in moto")
        if state != "expired" or cleanup:
            validity.bad("expiry", f"request {state}, cleanup pending {cleanup}")
    validity.count("permission sets left in moto", left)
    show(f"Identity Center grants, {args.people} people at once, {args.window} s window (watcher tick "
         f"{TICK * 1000:.0f} ms)", ["measure", "n", "p50 ms", "p99 ms", "max ms"],
         [row("last Approve click sent -> permission set assigned and provisioned (usable)", to_usable),
          row("expires_at -> assignment, role and permission set gone", to_gone)])
    benchlib.footer(started)
    return validity.verdict()


if __name__ == "__main__":
    sys.exit(main())
