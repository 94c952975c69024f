"""Every family's part of the projector, and the event types it knows without projecting them."""

from __future__ import annotations

from eventsourcing.utils import get_topic

from domain.catalogue import DUTY_AGGREGATES, event_classes
from domain.contacts import ContactActivity
from domain.deputies import Deputy
from domain.keys import Checkpoint, NodeKey
from domain.privacy import Erasure
from domain.tokens import AccessToken
from domain.visits import StationVisit
from projections.projector import contacts, deputies, livelihood, stations, suggestions
from projections.projector.page import Family

#: In the order their finishing steps run: deputies last (their step reads the activity counters the others count).
FAMILIES: list[Family] = [stations.FAMILY, contacts.FAMILY, suggestions.FAMILY, livelihood.FAMILY, deputies.FAMILY]

#: The lifecycle aggregates, by the name of their cache (``Projector.cache``).
LIFECYCLES = {"suggestions": suggestions.SUGGESTIONS_, "projects": livelihood.PROJECTS}

#: Event types that no view needs: skipped by topic, never decoded.
UNNEEDED = (
    Deputy.JoinedGroup,
    Deputy.LeftGroup,
    StationVisit.Closed,
    ContactActivity.HotlineOutcome,
    NodeKey.Registered,  # the chains' keys and checkpoints: `yipanqi verify` reads them
    NodeKey.Rotated,
    Checkpoint.Sealed,
    AccessToken.Issued,  # credentials' issue, role changes and revocation: `yipanqi audit` reads them
    AccessToken.RoleChanged,
    AccessToken.Revoked,
    Erasure.Recorded,  # erasures of personal data: `yipanqi privacy status` and the audit read them
)


def _event_classes() -> list[type]:
    return [cls for aggregate in DUTY_AGGREGATES for cls in event_classes(aggregate)]


#: Corrections and voids that no family handles (of a kind of record the domain does not correct or void yet; an
#: event from a newer release): each is counted as a problem (``not_followed``, in ``yipanqi projections status``),
#: never skipped in silence.
NOT_FOLLOWED = tuple(
    cls
    for cls in _event_classes()
    if cls.__name__ in ("Corrected", "Voided") and not any(cls in family.handlers for family in FAMILIES)
)
NOT_FOLLOWED_TOPICS = frozenset(get_topic(cls) for cls in NOT_FOLLOWED)
KNOWN_TOPICS = frozenset(get_topic(cls) for cls in _event_classes()) - NOT_FOLLOWED_TOPICS
UNNEEDED_TOPICS = frozenset(get_topic(cls) for cls in UNNEEDED)
