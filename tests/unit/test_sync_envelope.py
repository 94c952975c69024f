"""The frame envelope and the hash chain: what lets a receiver see gaps, duplicates and divergence without trusting
Kafka, with many events per message."""

from __future__ import annotations

import json
import struct
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.envelope import (
    GENESIS_LINK,
    Entry,
    EnvelopeError,
    Frame,
    Kind,
    chain,
    heartbeat,
    links,
    republish_request,
    step,
)

ORIGIN, AGGREGATE = UUID(int=7), UUID(int=8)
AGG = AGGREGATE.bytes
TOPICS = st.sampled_from(["domain.visits:StationVisit.Recorded", "domain.deputies:Deputy.Registered", "斫𥕢乡:𠀀", ""])


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    prev = draw(st.integers(0, 2**40))
    gaps = draw(st.lists(st.integers(1, 1000), min_size=1, max_size=60))  # positions rise, with holes
    positions = [prev + sum(gaps[: i + 1]) for i in range(len(gaps))]
    chains = draw(st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=4))  # a few, shared by events
    entries = tuple(
        Entry(
            p,
            draw(st.binary(min_size=16, max_size=16)),
            draw(st.integers(1, 2**62)),
            draw(TOPICS | st.text(max_size=40)),
            draw(st.integers(0, 5000)),
            draw(st.none() | st.sampled_from(chains)),
        )
        for p in positions
    )
    link = draw(st.binary(min_size=32, max_size=32)).hex()
    return Frame(Kind.EVENTS, draw(st.uuids()), prev, draw(st.integers(0, 2**62)), link, entries)


@given(frames())
def test_every_frame_survives_the_header(frame: Frame) -> None:
    assert Frame.decode(frame.encode()) == frame


@given(frames(), st.data())
def test_a_cut_or_padded_header_never_decodes_as_another_frame(frame: Frame, data: st.DataObject) -> None:
    encoded = frame.encode()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(EnvelopeError):
        Frame.decode(encoded[:cut])
    with pytest.raises(EnvelopeError):
        Frame.decode(encoded + b"x")


@pytest.mark.parametrize("header", [None, b"", b"garbage", bytes(98), bytes([3]) + bytes(70)])
def test_missing_or_garbage_headers_are_poison(header: bytes | None) -> None:
    with pytest.raises(EnvelopeError):
        Frame.decode(header)


def test_a_format_1_envelope_is_poison_that_names_its_format() -> None:
    """What the previous version sent (one event per message; its first byte was the kind, no format byte)."""
    topic = b"domain.visits:StationVisit.Recorded"
    v1 = struct.pack(">B16sqqq16sq32sH", 1, ORIGIN.bytes, 5, 4, 9, AGGREGATE.bytes, 1, bytes(32), len(topic)) + topic
    v1_heartbeat = struct.pack(">B16sqqq16sq32sH", 2, ORIGIN.bytes, 5, 5, 9, bytes(16), 0, bytes(32), 0)
    for header in (v1, v1_heartbeat):
        with pytest.raises(EnvelopeError, match=r"envelope format 1 \(one event per message\)"):
            Frame.decode(header)
    format_3 = bytearray(Frame(Kind.EVENTS, ORIGIN, 4, 5, GENESIS_LINK, (Entry(5, AGG, 1, "t", 3, None),)).encode())
    format_3[0] = 3
    with pytest.raises(EnvelopeError, match=r"envelope format 3 \(events without their chain\)"):
        Frame.decode(bytes(format_3))
    with pytest.raises(EnvelopeError, match="unknown envelope format 9"):
        Frame.decode(bytes([9]) + v1[1:])


def test_unknown_kinds_empty_frames_and_disordered_positions_are_poison() -> None:
    entry = Entry(5, AGG, 1, "t", 3, None)
    unknown_kind = bytearray(Frame(Kind.EVENTS, ORIGIN, 4, 5, GENESIS_LINK, (entry,)).encode())
    unknown_kind[1] = 99
    cases = {
        "unknown kind": bytes(unknown_kind),
        "no events": Frame(Kind.EVENTS, ORIGIN, 4, 5, GENESIS_LINK).encode(),
        "heartbeat with events": Frame(Kind.HEARTBEAT, ORIGIN, 4, 5, GENESIS_LINK, (entry,)).encode(),
        "prev after the first event": Frame(Kind.EVENTS, ORIGIN, 5, 5, GENESIS_LINK, (entry,)).encode(),
        "positions backwards": Frame(Kind.EVENTS, ORIGIN, 1, 5, GENESIS_LINK, (entry, entry._replace(position=4))).encode(),
    }
    for what, header in cases.items():
        with pytest.raises(EnvelopeError):
            Frame.decode(header)
            pytest.fail(what)


def test_the_value_is_cut_by_the_listed_lengths_and_must_match_them() -> None:
    entries = (Entry(5, AGG, 1, "a", 3, AGG), Entry(7, AGG, 2, "b", 0, None), Entry(9, AGG, 3, "a", 2, AGG))
    frame = Frame(Kind.EVENTS, ORIGIN, 4, 9, GENESIS_LINK, entries)
    assert frame.split(b"abcde") == [b"abc", b"", b"de"]
    assert frame.last == 9
    for value in (b"abcd", b"abcdef", None):
        with pytest.raises(EnvelopeError, match="bytes of events"):
            frame.split(value)


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


def test_a_frames_links_chain_event_by_event_so_any_suffix_can_be_checked_from_the_link_before_it() -> None:
    entries = [Entry(p, AGG, p, "t", 1, AGG) for p in (3, 4, 8)]
    states = [b"x", b"y", b"z"]
    chained = list(links(bytes(32), entries, states))
    by_hex = GENESIS_LINK
    for entry, state, link in zip(entries, states, chained, strict=True):
        by_hex = chain(by_hex, entry.position, AGGREGATE, entry.originator_version, entry.topic, state)
        assert link.hex() == by_hex
    assert list(links(chained[0], entries[1:], states[1:])) == chained[1:]  # a receiver that held position 3
    assert step(chained[1], 8, AGG, 8, "t", b"z") == chained[2]


def test_heartbeats_and_republish_requests() -> None:
    beat = heartbeat(ORIGIN, 40, 45, "ab" * 32)
    assert (beat.kind, beat.prev, beat.last, beat.head, beat.link, beat.entries) == (Kind.HEARTBEAT, 40, 40, 45, "ab" * 32, ())
    assert Frame.decode(beat.encode()) == beat
    request = json.loads(republish_request("up", 40, "ab" * 32, by="county"))
    assert request == {"kind": "republish", "stream": "up", "from": 40, "link": "ab" * 32, "by": "county"}
