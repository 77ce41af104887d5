"""docs/topics.md against the code: every topic's fields, version and examples, so the two cannot drift.

Outside consumers write their code from that page. So every JSON example must
decode with its record's decoder and encode back to the same bytes (it is what
the code emits, field for field), every field table must list exactly the
record's fields plus ``v`` and ``type``, and the audio example's headers and
bytes must decode as a chunk and an end marker.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from callradar.pipeline.records import (
    SCHEMA_VERSION,
    Alert,
    AudioChunk,
    CallEvent,
    CaseEvent,
    ChannelEnd,
    DeadLetter,
    Feedback,
    Score,
    Topics,
    Utterance,
    decode_audio_message,
)
from callradar.training.labelled_calls import Outcome

DOC = Path(__file__).resolve().parents[3] / "docs" / "topics.md"
RECORDS = {"events": CallEvent, "transcripts": Utterance, "scores": Score, "alerts": Alert,
           "deadletter": DeadLetter, "outcomes": Outcome, "feedback": Feedback, "cases": CaseEvent}


def sections(text: str) -> dict[str, tuple[int, str]]:
    """``## calls.<name> (vN)`` headings -> (N, the section's text)."""
    parts = re.split(r"^## calls\.(\w+) \(v(\d+)\)\n", text, flags=re.M)
    return {name: (int(version), body) for name, version, body in zip(parts[1::3], parts[2::3], parts[3::3])}


def fences(body: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", body, flags=re.M | re.S)


def tables(body: str) -> list[list[list[str]]]:
    """Each Markdown table as rows of cells, header row first, the --- row left out."""
    out, current = [], []
    for line in body.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                current.append(cells)
        elif current:
            out.append(current)
            current = []
    return out


def documented_fields(body: str) -> set[str]:
    """The names in the first column of the section's first ``| field |`` table (several may share a row)."""
    table = next(t for t in tables(body) if t[0][0] == "field")
    return {name for row in table[1:] for name in re.findall(r"`(\w+)`", row[0])}


def check_json_section(record, version: int, body: str) -> int:
    """Assert the section documents ``record``; returns how many examples it has."""
    assert version == SCHEMA_VERSION, f"{record.KIND}: heading says v{version}, the code writes v{SCHEMA_VERSION}"
    expected = {"v", "type"} | {f.name for f in fields(record)}
    documented = documented_fields(body)
    assert documented == expected, (f"{record.KIND}: fields the table lacks {sorted(expected - documented)}, "
                                    f"fields the record lacks {sorted(documented - expected)}")
    examples = [line for block in fences(body, "json") for line in block.splitlines() if line.strip()]
    for line in examples:
        decoded = record.decode(line.encode())  # raises MalformedMessage, saying why, for a bad example
        assert decoded.encode().decode() == line, f"{record.KIND}: the code would write this example differently"
    return len(examples)


@pytest.fixture(scope="module")
def doc() -> dict[str, tuple[int, str]]:
    return sections(DOC.read_text(encoding="utf-8"))


def test_every_topic_has_a_section(doc):
    assert set(doc) == set(Topics.NAMES)


@pytest.mark.parametrize("topic", sorted(RECORDS))
def test_json_topics_document_every_field_and_their_examples_decode(doc, topic):
    version, body = doc[topic]
    assert check_json_section(RECORDS[topic], version, body) >= 1, f"calls.{topic} has no example"


def _example_headers(table: list[list[str]]) -> list[tuple[str, bytes]]:
    assert table[0] == ["header", "example value"]
    return [(name.strip("`"), value.strip("`").encode()) for name, value, *_ in table[1:]]


def test_audio_examples_decode_as_the_code_writes_them(doc):
    version, body = doc["audio"]
    assert version == SCHEMA_VERSION
    examples = [t for t in tables(body) if t[0][0] == "header" and t[0][1] == "example value"]
    assert len(examples) == 2, "a chunk and an end marker"
    chunk_headers, end_headers = (_example_headers(t) for t in examples)
    documented = {name.strip("`") for name, *_ in next(t for t in tables(body) if t[0][1] == "type")[1:]}
    assert {name for name, _ in chunk_headers + end_headers} <= documented

    payload = bytes.fromhex(fences(body, "hex")[0])
    key = dict(chunk_headers)["call_id"]
    chunk = decode_audio_message(key, payload, chunk_headers)
    assert isinstance(chunk, AudioChunk) and chunk.headers() == chunk_headers
    size = int(re.search(r"Value: (\d+) bytes \((\d+) samples", body).group(1))
    assert size / 2 / chunk.sample_rate == pytest.approx(0.04), "the text says a 40 ms chunk"

    end = decode_audio_message(key, b"", end_headers)
    assert isinstance(end, ChannelEnd) and end.headers() == end_headers


BROKEN = [
    ("a field the record lacks", lambda b: b.replace("| `stage` |", "| `stage`, `worker` |", 1), "record lacks"),
    ("a field left out of the table", lambda b: b.replace("| `ts` | float | when it was refused |\n", ""),
     "table lacks"),
    ("an example missing a field", lambda b: b.replace('"value_size":3,', ""), "would write this example"),
    ("an example the decoder refuses", lambda b: b.replace('"v":1,', '"v":2,'), "unsupported version"),
]


@pytest.mark.parametrize("what, breaks, says", BROKEN, ids=[b[0] for b in BROKEN])
def test_the_check_fails_on_a_page_that_drifted(doc, what, breaks, says):
    version, body = doc["deadletter"]
    broken = breaks(body)
    assert broken != body, "the mutation no longer applies to the page: update it"
    with pytest.raises(Exception, match=says):
        check_json_section(DeadLetter, version, broken)
