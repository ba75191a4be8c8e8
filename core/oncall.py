"""On-call schedules as a source of people: ``pagerduty:<schedule id>`` and ``opsgenie:<schedule name or id>``
entries of the policy file mean whoever is on call for that schedule at the moment of the request or the click.
Pure: who is on call is read through a port (``core.ports.OnCall``); ``OnCallRouter`` hands each entry to its
provider's adapter (``bot.pagerduty``, ``bot.opsgenie``).
"""

from __future__ import annotations

import re

from core.errors import Unavailable
from core.i18n import T, Text
from core.ports import OnCall

#: a policy-file entry naming a PagerDuty schedule by id
PAGERDUTY_PREFIX = "pagerduty:"
#: a policy-file entry naming an Opsgenie schedule by name or id
OPSGENIE_PREFIX = "opsgenie:"
#: a PagerDuty schedule id: ``P`` and six upper-case letters or digits (``PABC123``)
SCHEDULE_ID = re.compile(r"^P[A-Z0-9]{6}$")
#: an Opsgenie schedule id (a UUID); any other Opsgenie entry names its schedule by name
OPSGENIE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
OPSGENIE_NAME_MAX = 128
#: each provider's name and the setting that configures it, by prefix
PROVIDERS = {PAGERDUTY_PREFIX: ("PagerDuty", "PAGERDUTY_TOKEN"), OPSGENIE_PREFIX: ("Opsgenie", "OPSGENIE_API_KEY")}


def is_on_call(entry: str) -> bool:
    return entry.startswith((PAGERDUTY_PREFIX, OPSGENIE_PREFIX))


def is_pagerduty(entry: str) -> bool:
    return entry.startswith(PAGERDUTY_PREFIX)


def is_opsgenie(entry: str) -> bool:
    return entry.startswith(OPSGENIE_PREFIX)


def provider_of(entry: str) -> str:
    """``PagerDuty`` or ``Opsgenie``."""
    return PROVIDERS[OPSGENIE_PREFIX if is_opsgenie(entry) else PAGERDUTY_PREFIX][0]


def schedule_of(entry: str) -> str:
    """The schedule (id, or an Opsgenie name) an on-call entry names."""
    return entry.removeprefix(OPSGENIE_PREFIX) if is_opsgenie(entry) else entry.removeprefix(PAGERDUTY_PREFIX)


def schedule_words(entry: str) -> str:
    """How messages name an entry's schedule: ``PABC123``, an Opsgenie one quoted (names may hold spaces)."""
    return f"'{schedule_of(entry)}'" if is_opsgenie(entry) else schedule_of(entry)


def check_on_call(entry: str) -> str:
    """``pagerduty:<schedule id>`` or ``opsgenie:<schedule name or id>``, or ``ValueError`` saying what is wrong."""
    schedule = schedule_of(entry)
    if is_opsgenie(entry):
        if not schedule or schedule != schedule.strip() or not schedule.isprintable() \
                or len(schedule) > OPSGENIE_NAME_MAX:
            raise ValueError(f"'{entry}': '{schedule}' is not an Opsgenie schedule name or id (1 to "
                             f"{OPSGENIE_NAME_MAX} printable characters, no space at either end, such as "
                             "opsgenie:SRE_Schedule)")
        return entry
    if not SCHEDULE_ID.match(schedule):
        raise ValueError(f"'{entry}': '{schedule}' is not a PagerDuty schedule id (P and 6 upper-case letters or "
                         "digits, such as pagerduty:PABC123; the schedule's page shows it in its address)")
    return entry


def describe(entry: str) -> Text:
    """How explanations name an entry: whoever is on call for its schedule."""
    return T("whoever is on call for {provider} schedule {schedule}", provider=provider_of(entry),
             schedule=schedule_words(entry))


class OnCallRouter:
    """The ``OnCall`` port over every provider: each entry goes to its own provider's adapter, and an entry whose
    provider is not configured is ``Unavailable``, saying which setting is missing."""

    def __init__(self, pagerduty: OnCall | None = None, opsgenie: OnCall | None = None) -> None:
        self._sources = {PAGERDUTY_PREFIX: pagerduty, OPSGENIE_PREFIX: opsgenie}

    def on_call(self, entry: str) -> frozenset[str]:
        prefix = OPSGENIE_PREFIX if is_opsgenie(entry) else PAGERDUTY_PREFIX
        source = self._sources[prefix]
        if source is None:
            name, setting = PROVIDERS[prefix]
            raise Unavailable(T("{name} is not configured ({setting}), so jitbot cannot tell who is on call for "
                                "schedule {schedule}; nothing was decided.", name=name, setting=setting,
                                schedule=schedule_words(entry)))
        return source.on_call(entry)
