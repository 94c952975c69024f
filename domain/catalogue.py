"""Every kind of record the domain keeps and the event types each records: what the projector registers and an audit
lets people name."""

from __future__ import annotations

from domain.base import DutyAggregate
from domain.bodies import StandingCommittee
from domain.contacts import ContactActivity
from domain.deputies import Deputy
from domain.keys import Checkpoint, NodeKey
from domain.livelihood import LivelihoodProject
from domain.privacy import Erasure
from domain.stations import Station
from domain.suggestions import Suggestion
from domain.tokens import AccessToken
from domain.visits import StationVisit

#: The records of deputy work (what the views count).
DUTY_AGGREGATES: tuple[type[DutyAggregate], ...] = (
    Deputy,
    StandingCommittee,
    Station,
    StationVisit,
    ContactActivity,
    Suggestion,
    LivelihoodProject,
)
#: Every record a node's log holds: deputy work, and the node's keys, chain checkpoints, access tokens and erasures.
AGGREGATES: tuple[type[DutyAggregate], ...] = (*DUTY_AGGREGATES, NodeKey, Checkpoint, AccessToken, Erasure)


def event_classes(aggregate: type[DutyAggregate]) -> list[type[DutyAggregate.Event]]:
    """The event types ``aggregate`` records: its own nested event classes (not the bare ``Event`` and ``Created``
    bases the library gives every aggregate)."""
    prefix = f"{aggregate.__name__}."
    return [
        value
        for value in vars(aggregate).values()
        if isinstance(value, type)
        and issubclass(value, aggregate.Event)
        and value.__qualname__.startswith(prefix)
        and value.__name__ not in ("Event", "Created")
    ]
