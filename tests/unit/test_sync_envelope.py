"""The envelope and the hash chain: what lets a receiver see gaps, duplicates and divergence without trusting Kafka."""

from __future__ import annotations

import json
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.envelope import GENESIS_LINK, Envelope, EnvelopeError, Kind, chain, heartbeat, republish_request

ORIGIN, AGGREGATE = UUID(int=7), UUID(int=8)

envelopes = st.builds(
    Envelope,
    kind=st.sampled_from(Kind),
    origin=st.uuids(),
    position=st.integers(0, 2**62),
    prev=st.integers(0, 2**62),
    head=st.integers(0, 2**62),
    originator_id=st.uuids(),
    originator_version=st.integers(1, 2**62),
    topic=st.text(min_size=0, max_size=80),  # any text, including names outside the BMP
    link=st.binary(min_size=32, max_size=32).map(bytes.hex),
)


@given(envelopes)
def test_every_envelope_survives_the_header(envelope: Envelope) -> None:
    assert Envelope.decode(envelope.encode()) == envelope


@given(envelopes, st.data())
def test_a_cut_or_padded_header_never_decodes_as_another_envelope(envelope: Envelope, data: st.DataObject) -> None:
    encoded = envelope.encode()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(EnvelopeError):
        Envelope.decode(encoded[:cut])
    with pytest.raises(EnvelopeError):
        Envelope.decode(encoded + b"x")


@pytest.mark.parametrize("header", [None, b"", b"garbage", bytes(98)])
def test_missing_or_garbage_headers_are_poison(header: bytes | None) -> None:
    with pytest.raises(EnvelopeError):
        Envelope.decode(header)


def test_an_unknown_kind_is_poison() -> None:
    encoded = bytearray(heartbeat(ORIGIN, 3, 5, GENESIS_LINK).encode())
    encoded[0] = 99
    with pytest.raises(EnvelopeError):
        Envelope.decode(bytes(encoded))


def test_the_link_commits_to_every_field_and_to_the_whole_stream_before() -> None:
    base = (GENESIS_LINK, 5, AGGREGATE, 2, "domain.visits:StationVisit.Recorded", b'{"a":1}')
    link = chain(*base)
    assert chain(*base) == link  # deterministic: a re-published stream has the same links
    other_history = chain(GENESIS_LINK, 4, AGGREGATE, 1, "domain.visits:StationVisit.Recorded", b"{}")
    changes = {0: other_history, 1: 6, 2: UUID(int=9), 3: 3, 4: "domain.visits:StationVisit.Closed", 5: b'{"a":2}'}
    for index, value in changes.items():
        variant = list(base)
        variant[index] = value
        assert chain(*variant) != link, index


def test_heartbeats_and_republish_requests() -> None:
    beat = heartbeat(ORIGIN, 40, 45, "ab" * 32)
    assert (beat.kind, beat.position, beat.prev, beat.head, beat.link) == (Kind.HEARTBEAT, 40, 40, 45, "ab" * 32)
    assert Envelope.decode(beat.encode()) == beat
    request = json.loads(republish_request("up", 40, "ab" * 32, by="county"))
    assert request == {"kind": "republish", "stream": "up", "from": 40, "link": "ab" * 32, "by": "county"}
