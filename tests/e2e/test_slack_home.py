"""The App Home tab: published when opened, republished for everyone a change concerns who opened theirs recently
(never for the others), buttons that work without a response_url (answers by DM)."""

from __future__ import annotations

import time

from core.model import State
from fakes import cast
from fakes.stack import Stack
from handlers import ids
from tests.e2e import slack_steps as slack
from tests.helpers import approval_post, eventually, request, valid_view


def _home(stack: Stack, user: str, *needles: str, absent: tuple[str, ...] = ()) -> dict:
    """Wait until ``user``'s home shows every needle and none of ``absent``; returns it, validated."""
    def check() -> dict | None:
        text = slack.home_text(stack, user)
        ok = text and all(n in text for n in needles) and not any(a in text for a in absent)
        return slack.home_view(stack, user) if ok else None
    view = eventually(check, timeout=10, what=f"home of {user} showing {needles}, not {absent}")
    valid_view({k: view[k] for k in ("type", "blocks")})
    return view


def _publishes(stack: Stack, user: str, since: float) -> int:
    return len([c for c in stack.slack.calls_to("views.publish") if c.params.get("user_id") == user and c.at >= since])


def _open(stack: Stack, *users: str) -> None:
    """Each of ``users`` opens their App Home tab; returns once the bot has recorded it (it publishes after)."""
    for user in users:
        t0 = time.time()
        assert slack.sim(stack).event({"type": "app_home_opened", "user": user, "channel": f"D{user}",
                                       "tab": "home"}).status == 200
        eventually(lambda user=user, t0=t0: _publishes(stack, user, t0), timeout=10, what=f"{user}'s home opened")


def _buttons(view: dict, action_id: str) -> list[str]:
    return [e["value"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]
            if e["action_id"] == action_id]


def _click_home(stack: Stack, user: str, action_id: str, value: str) -> None:
    view = slack.home_view(stack, user)
    assert view is not None
    assert slack.sim(stack).block_action(user, action_id, value, view=view).status == 200


def test_home_published_when_opened_and_after_every_change(stack: Stack) -> None:
    opened = slack.sim(stack).event({"type": "app_home_opened", "user": cast.CAROL, "channel": "DCAROL",
                                     "tab": "home"})
    assert opened.status == 200
    empty = _home(stack, cast.CAROL, "Requests for me", "Nothing is waiting for your decision", "My access",
                  "Recent history")
    assert _buttons(empty, ids.OPEN_REQUEST) == ["new"]
    t_open = time.time()
    _click_home(stack, cast.CAROL, ids.OPEN_REQUEST, "new")
    assert "[identities]" in str(slack.opened_view(stack, t_open)["blocks"])  # Carol has no AWS identity
    t_messages = time.time()
    slack.sim(stack).event({"type": "app_home_opened", "user": cast.DAVE, "channel": "DDAVE", "tab": "messages"})
    _open(stack, cast.ALICE, cast.SAM, cast.TINA)  # Carol opened hers above
    assert _publishes(stack, cast.DAVE, t_messages) == 0  # the Messages tab is not the home
    _open(stack, cast.DAVE)

    rid = slack.slash(stack, cast.ALICE, "request web-1 1h deploy hotfix")["text"].split("*")[1]
    mine = _home(stack, cast.ALICE, rid, "Waiting for level 1 of 2")
    assert _buttons(mine, ids.CANCEL) == [rid]
    for approver in (cast.SAM, cast.TINA):
        assert _buttons(_home(stack, approver, rid, "deploy hotfix"), ids.APPROVE) == [rid]

    t0 = time.time()
    _click_home(stack, cast.SAM, ids.APPROVE, rid)  # no response_url in the App Home: the answer is a DM
    assert "level 2" in slack.dm_after(stack, cast.SAM, t0, "Approved").params["text"]
    _home(stack, cast.SAM, "Nothing is waiting for your decision", absent=(rid,))
    _home(stack, cast.TINA, absent=(rid,))  # one approval was enough at level 1
    for manager in (cast.CAROL, cast.DAVE):
        assert _buttons(_home(stack, manager, rid), ids.REJECT) == [rid]
    _home(stack, cast.ALICE, "Waiting for level 2 of 2")

    _click_home(stack, cast.ALICE, ids.CANCEL, rid)
    slack.dm_after(stack, cast.ALICE, t0, f"Request *{rid}* is cancelled")
    assert request(stack, rid).state is State.CANCELLED
    _home(stack, cast.CAROL, "Nothing is waiting for your decision", absent=(rid,))
    history = _home(stack, cast.ALICE, "You have no pending or active access", "cancelled by the requester")
    assert not _buttons(history, ids.CANCEL)


def test_home_shows_time_left_and_releases(stack: Stack) -> None:
    _open(stack, cast.BOB)
    rid = slack.slash(stack, cast.BOB, "request dev-1 2h run a migration")["text"].split("*")[1]
    view = _home(stack, cast.BOB, rid, "Active until", "left*")
    assert "1h 59m left" in slack.home_text(stack, cast.BOB) or "2h left" in slack.home_text(stack, cast.BOB)
    assert _buttons(view, ids.RELEASE) == [rid] and _buttons(view, ids.EXTEND) == [rid]
    t0 = time.time()
    _click_home(stack, cast.BOB, ids.RELEASE, rid)
    slack.dm_after(stack, cast.BOB, t0, "has ended")
    eventually(lambda: request(stack, rid).state is State.REVOKED, what="release")
    _home(stack, cast.BOB, "released by the requester", absent=("Active until",))


def test_reject_with_reason_from_the_home_tab(stack: Stack) -> None:
    _open(stack, cast.ALICE, cast.SAM)
    rid = slack.slash(stack, cast.ALICE, "request web-1 1h look around")["text"].split("*")[1]
    approval_post(stack, "C0SREAPPR")
    _home(stack, cast.SAM, rid)
    t0 = time.time()
    _click_home(stack, cast.SAM, ids.REJECT, rid)
    modal = slack.opened_view(stack, t0)
    assert modal["callback_id"] == ids.REJECT_VIEW
    slack.sim(stack).view_submission(cast.SAM, ids.REJECT_VIEW, {ids.REASON_BLOCK: {ids.REASON_INPUT: "use the "
                                     "runbook"}}, private_metadata=modal["private_metadata"], view_id=modal["id"])
    slack.dm_after(stack, cast.SAM, t0, f"You rejected request {rid}")
    slack.dm_after(stack, cast.ALICE, t0, "use the runbook")  # the requester hears why
    assert request(stack, rid).end_reason == "use the runbook"
    thread = stack.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.params.get("thread_ts")
                                  and "use the runbook" in c.params.get("text", ""))
    assert thread.params["channel"] == "C0SREAPPR"
    audit = stack.slack.wait_for(lambda c: c.params.get("channel") == "C0AUDIT01" and "rejected by" in
                                 c.params.get("text", ""))
    assert "use the runbook" in audit.params["text"]
    _home(stack, cast.ALICE, "use the runbook")


def test_only_the_homes_being_looked_at_are_republished(stack: Stack) -> None:
    _open(stack, cast.TINA)
    t0 = time.time()
    rid = slack.slash(stack, cast.ALICE, "request web-1 1h watched homes only")["text"].split("*")[1]
    _home(stack, cast.TINA, rid, "watched homes only")  # Tina opened hers: republished with the request
    # Alice (the requester) and Sam (Tina's group) never opened theirs. Every refresh concerning Tina concerns them
    # too, and a refresh publishes its people in id order, theirs first: they would have been published by now.
    assert _publishes(stack, cast.ALICE, t0) == _publishes(stack, cast.SAM, t0) == 0
    slack.dm_after(stack, cast.ALICE, t0, rid)  # the notices themselves still go out

    _open(stack, cast.ALICE)  # opening renders the home at once...
    _home(stack, cast.ALICE, rid, "Waiting for level 1 of 2")
    assert slack.sim(stack).block_action(cast.SAM, ids.APPROVE, rid, channel_id="C0SREAPPR").status == 200
    _home(stack, cast.ALICE, rid, "Waiting for level 2 of 2")  # ...and from then on every change republishes it
    _home(stack, cast.TINA, absent=(rid,))
    assert _publishes(stack, cast.SAM, t0) == 0
    for manager in (cast.CAROL, cast.DAVE):  # the approvers of level 2 have not opened theirs either
        assert _publishes(stack, manager, t0) == 0
