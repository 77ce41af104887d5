"""`callradar score` on transcript files, and the score stage's hot reload (no Kafka here)."""

import json
import time
from pathlib import Path

import pytest

from callradar.models.call_features import FEATURE_NAMES
from callradar.models.registry import Registry, parse_model_version
from callradar.models.risk import RiskModel
from callradar.models.types import SENTIMENT_LABELS
from callradar.pipeline.cli.main import main
from callradar.pipeline.cli.score import score_utterances
from callradar.pipeline.records import Utterance
from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.score import ScoreProcessor

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "transcript_sample.jsonl"


def risk_model(version: str, intercept: float) -> RiskModel:
    """A valid risk model whose risk is sigmoid(intercept) for every call."""
    return RiskModel(FEATURE_NAMES[:2], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0], intercept, version)


@pytest.fixture(autouse=True)
def private_registry(tmp_path, monkeypatch):
    """Never read or write the checkout's own registry from tests."""
    monkeypatch.setenv("CALLRADAR_MODELS_DIR", str(tmp_path / "models"))
    return Registry(tmp_path / "models")


def run_score(capsys, *argv) -> tuple[int, list[dict], str]:
    status = main(["score", "--quiet", *map(str, argv)])
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_scores_a_sample_transcript(capsys):
    status, records, err = run_score(capsys, SAMPLE)
    assert status == 0 and "refused" not in err
    utts = [r for r in records if r["type"] == "utterance_score"]
    calls = {r["call_id"]: r for r in records if r["type"] == "call_risk"}
    assert [r["line"] for r in utts] == list(range(1, 10))
    for r in utts:
        assert r["sentiment"] in SENTIMENT_LABELS and set(r["sentiment_scores"]) == set(SENTIMENT_LABELS)
        assert 0 <= r["intent"] <= 1 and 0 <= r["risk"] <= 1
        assert parse_model_version(r["model_version"]) == {"risk": "builtin", "sentiment": "builtin",
                                                           "intent": "builtin"}
    assert records[-2:] == list(calls.values())  # the per-call lines come last
    assert set(calls) == {"calm-1", "angry-1"}
    assert calls["angry-1"]["risk"] == [r for r in utts if r["call_id"] == "angry-1"][-1]["risk"]
    assert calls["angry-1"]["max_risk"] > 0.6 > calls["calm-1"]["max_risk"]
    # The end of the first utterance at or above the threshold: the supervisor request's (18.5) at the latest.
    angry = [r for r in utts if r["call_id"] == "angry-1"]
    first_over = next(r["end"] for r in angry if r["risk"] >= 0.6)
    assert calls["angry-1"]["risk_crossed_threshold_at"] == first_over <= 18.5
    assert calls["calm-1"]["risk_crossed_threshold_at"] is None
    supervisor = next(r for r in utts if "supervisor" in r["text"])
    assert supervisor["keywords"][0]["category"] == "supervisor_request" and supervisor["intent"] > 0.9


def test_batch_size_does_not_change_the_scores(capsys):
    _, batched, _ = run_score(capsys, SAMPLE)
    _, one_by_one, _ = run_score(capsys, "--batch", 1, SAMPLE)
    assert [r.get("line") for r in batched] == [r.get("line") for r in one_by_one]
    numbers = lambda rs: [x for r in rs for x in (r["risk"], r.get("intent", 0.0))]
    assert numbers(batched) == pytest.approx(numbers(one_by_one), abs=2e-4)  # padding differs, numbers don't


def test_malformed_lines_are_reported_with_line_numbers_and_the_rest_is_scored(tmp_path, capsys):
    good = SAMPLE.read_bytes().splitlines()
    bad = [
        b"this is not json",
        b'{"call_id": "x", "speaker": "supervisor", "start": 0, "end": 1, "text": "hi"}',
        b'{"call_id": "x", "speaker": "agent", "start": NaN, "end": 1, "text": "hi"}',
        b'{"call_id": "x", "speaker": "agent", "start": 0, "end": 1e400, "text": "hi"}',
        b'{"call_id": "x", "speaker": "agent", "start": 0, "end": 1}',
        b'{"call_id": "x", "speaker": "agent", "start": 0, "end": 1, "text": "caf\xe9"}',
        b'{"call_id": "x", "speaker": "agent", "start": 5, "end": 1, "text": "backwards"}',
        b'["call_id", "x"]',
    ]
    lines = [good[0], *bad[:4], good[1], b"", *bad[4:], *good[2:]]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    status, records, err = run_score(capsys, path)
    assert status == 1
    refused = [line for line in err.splitlines() if ": refused: " in line]
    assert [int(line.split(":")[1]) for line in refused] == [2, 3, 4, 5, 8, 9, 10, 11]
    assert "mixed.jsonl:2: refused: not valid JSON" in err
    assert "speaker 'supervisor' is not agent or customer" in err
    assert "number NaN is not allowed" in err and "number 1e400 is not allowed (out of range)" in err
    assert "missing field(s) text" in err and "not UTF-8" in err and "need 0 <= start <= end" in err
    assert "refused 8 line(s)" in err
    scored = [r for r in records if r["type"] == "utterance_score"]
    assert len(scored) == len(good)  # every good line, blank line skipped
    assert [r["line"] for r in scored][:2] == [1, 6]


def test_texts_are_scored_each_on_its_own(tmp_path, capsys):
    """--texts: plain lines and {"text", "id"} objects; no text colours the next one's risk, no call lines."""
    angry = "I want a supervisor now, this is the third bill that's wrong"
    path = tmp_path / "posts.txt"
    path.write_text(f"{angry}\n\n" + json.dumps({"id": "p3", "text": "thanks, that fixed it"}) + "\n"
                    + '{"text": 5}\n{broken\n' + "thanks, that fixed it\n", encoding="utf-8")
    status, records, err = run_score(capsys, "--texts", path)
    assert status == 1 and [int(line.split(":")[1]) for line in err.splitlines() if ": refused: " in line] == [4, 5]
    assert 'expected a JSON object with a "text" string' in err and "not valid JSON" in err
    assert [(r["type"], r["line"], r.get("id")) for r in records] == [
        ("text_score", 1, None), ("text_score", 3, "p3"), ("text_score", 6, None)]
    first, thanks, again = records
    assert first["text"] == angry and first["intent"] > 0.9 and first["risk"] > 0.6
    assert {k["category"] for k in first["keywords"]} >= {"supervisor_request"}
    assert thanks["risk"] < 0.6 and thanks["risk"] == pytest.approx(again["risk"], abs=1e-6)  # nothing carried over
    assert "call_id" not in thanks and thanks["sentiment"] in SENTIMENT_LABELS
    # the same words as a transcript line: the same reading (one feature path)
    line = {"call_id": "c", "speaker": "customer", "start": 0.0, "end": 5.0, "text": "thanks, that fixed it"}
    (one,) = [r for r in score_utterances([line]) if r["type"] == "utterance_score"]
    assert one["sentiment_scores"] == thanks["sentiment_scores"] and one["risk"] == pytest.approx(thanks["risk"])


def test_texts_from_a_csv_file_read_its_text_and_id_columns(tmp_path, capsys):
    path = tmp_path / "answers.csv"
    path.write_text('id,text,likes\nq1,"I want a supervisor now, you are useless",0\nq2,,3\n'
                    'q3,"thanks, that fixed it\nall good",1\n', encoding="utf-8")
    status, records, err = run_score(capsys, "--texts", path)
    assert status == 0 and "refused" not in err
    assert [(r["line"], r["id"]) for r in records] == [(2, "q1"), (5, "q3")]  # the empty text skipped
    assert records[0]["intent"] > 0.9 and records[1]["text"] == "thanks, that fixed it\nall good"
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\n1,fine\n", encoding="utf-8")
    assert main(["score", "--texts", str(bad)]) == 2
    assert 'bad.csv: no "text" column (columns: question, answer)' in capsys.readouterr().err
    bad.write_bytes(b"text\ncaf\xe9\n")
    assert main(["score", "--texts", str(bad)]) == 2
    assert "bad.csv: not UTF-8 (byte 8)" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["score", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["score", "--version", "asr=v1", str(SAMPLE)]) == 2
    assert "expected KIND=VERSION" in capsys.readouterr().err
    assert main(["score", "--version", "risk=v4", str(SAMPLE)]) == 2
    assert "no risk version 'v4'" in capsys.readouterr().err


def test_pinning_a_registry_version_or_a_folder(tmp_path, capsys, private_registry):
    folder = risk_model("candidate", 3.0).save(tmp_path / "candidate")
    _, records, _ = run_score(capsys, "--version", f"risk={folder}", SAMPLE)
    assert [r["risk"] for r in records] == pytest.approx([0.9526] * len(records), abs=1e-4)
    assert parse_model_version(records[0]["model_version"])["risk"] == "dir:candidate"
    private_registry.add("risk", folder)
    _, records, _ = run_score(capsys, "--version", "risk=v1", SAMPLE)
    assert parse_model_version(records[0]["model_version"])["risk"] == "v1"


def test_python_entry_point_for_notebooks():
    docs = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    records = score_utterances(docs)
    assert len(records) == len(docs) + 2 and records[-1]["type"] == "call_risk"


# ------------------------------------------------------------ hot reload (no broker)


def utterance(call_id: str, text: str, index: int = 0) -> Utterance:
    return Utterance(f"{call_id}/customer/{index}", call_id, "customer", index, 2.0 * index, 2.0 * index + 1.5,
                     text, 1.0, time.time())


def test_processor_swaps_to_a_promoted_version_between_batches(tmp_path, private_registry, caplog):
    settings = load_settings({}, models_dir=private_registry.root, models_reload_s=0.05)
    reg = private_registry
    reg.add("risk", risk_model("low", -3.0).save(tmp_path / "low"))
    reg.add("risk", risk_model("high", 3.0).save(tmp_path / "high"))
    processor = ScoreProcessor.from_settings(settings)
    [before] = processor.score([utterance("c1", "where is my parcel")])
    assert parse_model_version(before.model_version)["risk"] == "builtin"

    reg.promote("risk", "v2")
    [still] = processor.score([utterance("c1", "where is my parcel", 1)])  # checked at most every 0.05 s
    time.sleep(0.1)
    [after] = processor.score([utterance("c1", "where is my parcel", 2)])
    assert parse_model_version(after.model_version)["risk"] == "v2"
    assert after.risk == pytest.approx(0.9526, abs=1e-4)
    assert processor.live_calls == 1  # the call's state survived the swap
    assert parse_model_version(still.model_version)["risk"] in ("builtin", "v2")

    # A pointer to a version that no longer loads: keep scoring with what runs, say why in the log.
    (reg.path("risk", "v1") / "model.json").write_text("{}")
    reg._write_pointer("risk", "v1", ["v2", "v1"])
    time.sleep(0.1)
    [kept] = processor.score([utterance("c1", "where is my parcel", 3)])
    assert parse_model_version(kept.model_version)["risk"] == "v2"
    assert "do not load" in caplog.text


def test_processor_does_not_touch_the_disk_between_checks(tmp_path, private_registry, monkeypatch):
    settings = load_settings({}, models_dir=private_registry.root, models_reload_s=3600)
    processor = ScoreProcessor.from_settings(settings)
    calls = []
    monkeypatch.setattr(private_registry.__class__, "stamp", lambda self: calls.append(1) or ())
    for i in range(20):
        processor.score([utterance("c2", "hello", i)])
    assert calls == []
