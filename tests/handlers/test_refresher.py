"""The App Home refresher: only the homes being looked at, at most once per interval per person, the last state
always published. Fake clocks: nothing here depends on how fast the machine is."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from handlers.refresher import HOME_WATCH, HomeRefresher, Pacing
from tests.helpers import eventually

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ALICE, BOB, CAROL, SAM, TINA = "U0ALICE01", "U0BOB0001", "U0CAROL01", "U0SAM0001", "U0TINA001"
GROUPS = {"S0SRELEAD": {SAM, TINA}}


class FakeHomeViews:
    """handlers.refresher.HomeViews in memory; ``broken`` makes ``watching`` fail like a database that is down."""

    def __init__(self) -> None:
        self.opens: dict[str, datetime] = {}
        self.asked: list[tuple[frozenset[str], datetime]] = []
        self.broken = False

    def opened(self, user: str, at: datetime) -> None:
        self.opens[user] = at

    def watching(self, users: Iterable[str], since: datetime) -> set[str]:
        wanted = frozenset(users)
        self.asked.append((wanted, since))
        if self.broken:
            raise ConnectionError("database unavailable")
        return {u for u in wanted if u in self.opens and self.opens[u] >= since}

    def recent(self, since: datetime, limit: int = 1000) -> set[str]:
        return {u for u, at in self.opens.items() if at >= since}


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Publisher:
    """Records each publish with the version of the state it would have rendered."""

    def __init__(self) -> None:
        self.version = 0
        self.published: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def __call__(self, user: str) -> None:
        with self._lock:
            self.published.append((user, self.version))

    def users(self) -> list[str]:
        with self._lock:
            return [user for user, _ in self.published]

    def of(self, user: str) -> list[int]:
        with self._lock:
            return [version for u, version in self.published if u == user]


def _expand(principals: Iterable[str]) -> set[str]:
    return {u for p in principals for u in GROUPS.get(p, {p})}


@pytest.fixture
def views() -> FakeHomeViews:
    return FakeHomeViews()


@pytest.fixture
def publisher() -> Publisher:
    return Publisher()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def refresher(views: FakeHomeViews, publisher: Publisher, clock: FakeClock) -> Iterator[HomeRefresher]:
    made = HomeRefresher(_expand, publisher, delay=0.01, idle=5, views=views, now=lambda: NOW, interval=10,
                         clock=clock)
    yield made
    made.close()


def test_pacing_coalesces_within_the_interval_and_never_drops() -> None:
    pacing = Pacing(interval=1.0)
    pacing.want([ALICE, BOB], now=0.0)
    assert pacing.ready(0.0) == [ALICE, BOB]
    pacing.published(ALICE, 0.0)
    pacing.published(BOB, 0.1)
    assert pacing.next_due() is None and pacing.ready(0.2) == []

    for now in (0.3, 0.4, 0.5):  # three changes for Alice within her interval: one publish, when it has passed
        pacing.want([ALICE], now)
    pacing.want([CAROL], 0.5)  # never published: no wait
    assert pacing.ready(0.5) == [CAROL]
    assert pacing.waiting == {ALICE} and pacing.next_due() == 1.0
    assert pacing.ready(0.99) == []
    assert pacing.ready(1.0) == [ALICE]
    assert pacing.waiting == frozenset() and pacing.next_due() is None

    pacing.published(ALICE, 1.0)
    pacing.want([BOB], 5.0)  # long after his last publish: at once
    assert pacing.ready(5.0) == [BOB]


def test_only_homes_opened_within_the_window_are_published(refresher: HomeRefresher, views: FakeHomeViews,
                                                          publisher: Publisher) -> None:
    views.opened(ALICE, NOW - timedelta(minutes=10))
    views.opened(SAM, NOW - HOME_WATCH - timedelta(seconds=1))  # opened, but too long ago
    refresher.schedule([ALICE, "S0SRELEAD", ""])
    eventually(lambda: publisher.users(), what="a publish")
    # one lookup for the whole batch, groups expanded, made before any publish of that batch
    assert views.asked == [(frozenset({ALICE, SAM, TINA}), NOW - HOME_WATCH)]
    assert publisher.users() == [ALICE]


def test_the_lookup_failing_publishes_every_concerned_home(refresher: HomeRefresher, views: FakeHomeViews,
                                                           publisher: Publisher) -> None:
    views.broken = True
    refresher.schedule([ALICE, "S0SRELEAD"])
    eventually(lambda: len(publisher.users()) == 3, what="three publishes")
    assert sorted(publisher.users()) == [ALICE, SAM, TINA]


def test_changes_within_the_interval_coalesce_into_one_publish_of_the_last_state(
        refresher: HomeRefresher, views: FakeHomeViews, publisher: Publisher, clock: FakeClock) -> None:
    views.opened(ALICE, NOW)
    views.opened(BOB, NOW)
    views.opened(CAROL, NOW)
    refresher.schedule([ALICE])
    eventually(lambda: publisher.users() == [ALICE], what="Alice's first publish")

    for _ in range(3):  # three changes while the (fake) clock stands still, within Alice's interval
        publisher.version += 1
        refresher.schedule([ALICE])
    refresher.schedule([ALICE, BOB])
    eventually(lambda: BOB in publisher.users(), what="Bob's publish")
    assert publisher.users() == [ALICE, BOB]  # Bob was never published: at once; Alice waits out her interval

    clock.t += 10
    publisher.version += 1
    refresher.schedule([CAROL])  # any later wake-up; the timer does it too (next test)
    eventually(lambda: len(publisher.of(ALICE)) == 2, what="Alice's second publish")
    assert publisher.of(ALICE) == [0, 4]  # one publish for four changes, showing the last
    eventually(lambda: CAROL in publisher.users(), what="Carol's publish")
    assert len(publisher.of(ALICE)) == 2


def test_a_waiting_home_is_published_when_its_interval_has_passed_without_another_change(
        views: FakeHomeViews, publisher: Publisher) -> None:
    views.opened(ALICE, NOW)
    refresher = HomeRefresher(_expand, publisher, delay=0.01, idle=5, views=views, now=lambda: NOW, interval=0.05)
    try:
        refresher.schedule([ALICE])
        eventually(lambda: publisher.of(ALICE), what="the first publish")
        publisher.version += 1
        refresher.schedule([ALICE])
        eventually(lambda: publisher.of(ALICE) == [0, 1], what="the last state, published once its interval passed")
    finally:
        refresher.close()


def test_without_views_every_concerned_home_is_published(publisher: Publisher) -> None:
    refresher = HomeRefresher(_expand, publisher, delay=0.01, idle=5)
    try:
        refresher.schedule(["S0SRELEAD"])
        eventually(lambda: len(publisher.users()) == 2, what="both SRE leads")
        assert sorted(publisher.users()) == [SAM, TINA]
    finally:
        refresher.close()
