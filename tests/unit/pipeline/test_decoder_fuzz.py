"""Property-based fuzzing of every message decoder.

Whatever arrives on a topic, a decoder either returns a valid record or raises
MalformedMessage (which sends the message to the dead-letter topic with its
reason). Any other exception would crash a stage on bad input.
"""

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callradar.pipeline.records import (
    SUPPORTED_SAMPLE_RATES,
    AudioChunk,
    ChannelEnd,
    MalformedMessage,
    Record,
    decode_audio_message,
)

JSON_RECORDS = tuple(Record.__subclasses__())  # every JSON record, including ones added later
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

header_names = st.sampled_from(["v", "call_id", "channel", "seq", "sample_rate", "encoding", "capture_ts", "end"]) | st.text(max_size=8)
header_values = st.binary(max_size=24) | st.sampled_from(
    [b"agent", b"customer", b"8000", b"16000", b"-1", b"nan", b"inf", b"1e308", b"s16le", b"1", b"", b"\xff"]
)
headers = st.lists(st.tuples(header_names, header_values), max_size=9)


@FUZZ
@given(key=st.none() | st.binary(max_size=16), value=st.none() | st.binary(max_size=400), headers=headers)
def test_audio_decoder_accepts_or_refuses_with_a_reason(key, value, headers):
    try:
        message = decode_audio_message(key, value, headers)
    except MalformedMessage as exc:
        assert str(exc)
        return
    if isinstance(message, ChannelEnd):
        assert message.channel in ("agent", "customer")
        return
    assert isinstance(message, AudioChunk)
    assert message.sample_rate in SUPPORTED_SAMPLE_RATES
    assert len(message.pcm) % 2 == 0 and message.pcm
    assert math.isfinite(message.capture_ts) and message.seq >= 0


@FUZZ
@given(chunk=st.builds(
    AudioChunk,
    call_id=st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s),
    channel=st.sampled_from(["agent", "customer"]),
    seq=st.integers(0, 10**9),
    sample_rate=st.sampled_from(SUPPORTED_SAMPLE_RATES),
    capture_ts=st.floats(0, 4e9, allow_nan=False),
    pcm=st.binary(min_size=2, max_size=320).filter(lambda b: len(b) % 2 == 0),
))
def test_every_valid_chunk_round_trips(chunk):
    assert decode_audio_message(chunk.call_id.encode(), chunk.pcm, chunk.headers()) == chunk


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


def _documents(record):
    """Dicts shaped like the record, with each field possibly of the wrong type or missing."""
    names = list(record.__dataclass_fields__)
    return st.dictionaries(st.sampled_from(names + ["v", "type", "extra"]), json_values, max_size=len(names) + 2)


@FUZZ
@given(data=st.data())
def test_json_decoders_accept_or_refuse_with_a_reason(data):
    record = data.draw(st.sampled_from(JSON_RECORDS))
    raw = data.draw(
        st.binary(max_size=200)
        | _documents(record).map(lambda d: json.dumps(d).encode())
        | json_values.map(lambda d: json.dumps(d).encode())
    )
    try:
        decoded = record.decode(raw)
    except MalformedMessage as exc:
        assert str(exc)
        return
    assert isinstance(decoded, record)
    for name, annotation in record.__annotations__.items():
        if name.isupper():
            continue
        value = getattr(decoded, name)
        expected = {"str": str, "float": (int, float), "int": int, "list": list, "dict": dict, "bool": bool,
                    "str | None": (str, type(None))}[annotation]
        assert isinstance(value, expected), f"{record.KIND}.{name} = {value!r}"
        assert annotation == "bool" or not isinstance(value, bool), f"{record.KIND}.{name} = {value!r}"
        if isinstance(value, float):
            assert math.isfinite(value)
    # What was accepted can be sent on: it encodes to JSON again.
    assert record.decode(decoded.encode()) == decoded
