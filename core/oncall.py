"""PagerDuty on-call schedules as a source of people: ``pagerduty:<schedule id>`` entries of the policy file mean
whoever is on call for that schedule at the moment of the request or the click. Pure: who is on call is read
through a port (``core.ports.OnCall``), its adapter lives in ``bot.pagerduty``.
"""

from __future__ import annotations

import re

from core.i18n import T, Text

#: a policy-file entry naming a PagerDuty schedule by id
PAGERDUTY_PREFIX = "pagerduty:"
#: a PagerDuty schedule id: ``P`` and six upper-case letters or digits (``PABC123``)
SCHEDULE_ID = re.compile(r"^P[A-Z0-9]{6}$")


def is_on_call(entry: str) -> bool:
    return entry.startswith(PAGERDUTY_PREFIX)


def schedule_of(entry: str) -> str:
    """The schedule id a ``pagerduty:`` entry names."""
    return entry[len(PAGERDUTY_PREFIX):]


def check_on_call(entry: str) -> str:
    """``pagerduty:<schedule id>``, or ``ValueError`` saying what is wrong."""
    schedule = schedule_of(entry)
    if not SCHEDULE_ID.match(schedule):
        raise ValueError(f"'{entry}': '{schedule}' is not a PagerDuty schedule id (P and 6 upper-case letters or "
                         "digits, such as pagerduty:PABC123; the schedule's page shows it in its address)")
    return entry


def describe(entry: str) -> Text:
    """How explanations name an entry: whoever is on call for its schedule."""
    return T("whoever is on call for PagerDuty schedule {schedule}", schedule=schedule_of(entry))
