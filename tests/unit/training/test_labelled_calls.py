"""Labelled-calls format: round trips, precise errors, archive folders and label import."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from callradar.pipeline.cli.main import main
from callradar.pipeline.records import Feedback, MalformedMessage
from callradar.training.labelled_calls import (
    FEEDBACK_FILE,
    LABELS_FILE,
    CallAlert,
    CallFeedback,
    CallUtterance,
    LabelledCall,
    LabelledCallsError,
    Outcome,
    append_feedback,
    append_labels,
    archive_parts,
    parquet_schema,
    read_archive,
    read_calls,
    read_outcomes_csv,
    write_calls,
)


def sample_calls() -> list[LabelledCall]:
    return [
        LabelledCall(
            call_id="c-1", outcome="escalated", escalation_time=12.5, source="test",
            metadata={"queue": "billing", "agent_id": "a-7"},
            utterances=[
                CallUtterance("agent", 0.4, 3.0, "Hello, how can I help?", utterance_id="c-1/agent/0", risk=0.01),
                CallUtterance("customer", 3.5, 8.0, "My bill is wrong again.", utterance_id="c-1/customer/0",
                              sentiment="negative", intent=0.3, risk=0.2, model_version="prior-2"),
                CallUtterance("customer", 12.5, 15.0, "Get me a supervisor.", utterance_id="c-1/customer/1"),
            ],
            alerts=[CallAlert("al-1", "escalation_risk", "supervisor_request", 0.93, 15.0, "c-1/customer/1")],
            feedback=[CallFeedback("al-2/a-7", "al-2", "supervisor-offer-first", True, "a-7", "supervisor_request",
                                   1000.5, "c-1/customer/1", 15.0, "refunds#x", "console")],
        ),
        LabelledCall(call_id="c-2", outcome="calm", utterances=[CallUtterance("customer", 0.0, 2.0, "Thanks!")]),
        LabelledCall(call_id="c-3", outcome=None, utterances=[CallUtterance("agent", 1.0, 2.0, "")]),
    ]


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_round_trip(tmp_path, suffix):
    calls = sample_calls()
    path = write_calls(tmp_path / f"calls{suffix}", calls)
    back = read_calls(path)
    assert [c.to_dict() for c in back] == [c.to_dict() for c in calls]
    assert [c.call_id for c in read_calls(path, labelled_only=True)] == ["c-1", "c-2"]


def test_jsonl_written_for_people_leaves_out_empty_fields(tmp_path):
    path = write_calls(tmp_path / "calls.jsonl", sample_calls())
    first = json.loads(path.read_text().splitlines()[1])
    assert first == {"call_id": "c-2", "outcome": "calm", "utterances": [
        {"speaker": "customer", "start": 0.0, "end": 2.0, "text": "Thanks!"}]}


def test_a_minimal_hand_written_jsonl_is_accepted(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"call_id": "x", "outcome": "escalated", "utterances": [
        {"speaker": "customer", "start": 0, "end": 1.5, "text": "I want a manager"}]}) + "\n\n")
    (call,) = read_calls(path)
    assert call.outcome == "escalated" and call.escalation_time is None and call.utterances[0].end == 1.5


def test_jsonl_errors_name_each_bad_line(tmp_path):
    good = {"call_id": "ok", "outcome": "calm", "utterances": [{"speaker": "agent", "start": 0, "end": 1, "text": "hi"}]}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({**good, "call_id": "b1", "utterances": [{"speaker": "supervisor", "start": 0, "end": 1, "text": ""}]}),
        json.dumps({**good, "call_id": "b2", "escalation_time": 4.0}),
        json.dumps({**good, "call_id": "b3", "outcome": "angry"}),
        json.dumps({**good, "call_id": "b4", "utterances": [{"speaker": "agent", "start": 5, "end": 1, "text": ""}]}),
        json.dumps({**good, "call_id": "b5", "utterances": []}),
        json.dumps(good),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LabelledCallsError) as err:
        read_calls(path)
    msg = str(err.value)
    assert "7 of 8 record(s)" in msg
    assert "line 2: not valid JSON" in msg
    assert "line 3 (call_id 'b1'): utterances[0].speaker is 'supervisor'" in msg
    assert "line 4 (call_id 'b2'): escalation_time is set but outcome is 'calm'" in msg
    assert "line 5 (call_id 'b3'): outcome is 'angry'" in msg
    assert "line 6 (call_id 'b4'): utterances[0]: need 0 <= start <= end" in msg
    assert "line 7 (call_id 'b5'): utterances must be a non-empty list" in msg
    assert "line 8: call_id 'ok' already used at line 1" in msg


def test_parquet_errors_name_the_row_and_missing_columns(tmp_path):
    calls = sample_calls()
    calls[1].utterances[0].speaker = "robot"
    path = write_calls(tmp_path / "calls.parquet", calls)
    with pytest.raises(LabelledCallsError, match=r"row 1 \(call_id 'c-2'\): utterances\[0\]\.speaker is 'robot'"):
        read_calls(path)
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"id": ["a"], "label": ["calm"]}), other)
    with pytest.raises(LabelledCallsError, match="missing column\\(s\\) call_id, outcome, utterances"):
        read_calls(other)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    with pytest.raises(LabelledCallsError, match="not a readable Parquet file"):
        read_calls(junk)
    (tmp_path / "x.csv").write_text("a")
    with pytest.raises(LabelledCallsError, match="unknown file type '.csv'"):
        read_calls(tmp_path / "x.csv")


def test_archive_folder_merges_parts_and_applies_the_latest_label(tmp_path):
    first, second = sample_calls()[:1], sample_calls()[:1]
    first[0].outcome, first[0].escalation_time = None, None
    first[0].utterances = first[0].utterances[:2]  # a late utterance arrives in the next part
    second[0].outcome, second[0].escalation_time = None, None
    write_calls(tmp_path / "calls-1.parquet", first)
    write_calls(tmp_path / "calls-2.parquet", second)
    append_labels(tmp_path, [Outcome("c-1", "calm"), Outcome("c-1", "escalated", 12.5, source="crm")])
    (call,) = read_archive(tmp_path)
    assert [u.utterance_id for u in call.utterances] == ["c-1/agent/0", "c-1/customer/0", "c-1/customer/1"]
    assert len(call.alerts) == 1
    assert (call.outcome, call.escalation_time) == ("escalated", 12.5)
    assert read_calls(tmp_path, labelled_only=True)[0].call_id == "c-1"


def mark(call_id, helpful, ts, alert_id="al-2", agent_id="a-7") -> Feedback:
    return Feedback(f"{alert_id}/{agent_id}", call_id, alert_id, "complaint-own-it", "complaint", helpful, agent_id,
                    ts, f"{call_id}/customer/1", 15.0)


def test_feedback_that_comes_after_the_call_was_written_joins_it_and_the_latest_mark_counts(tmp_path, capsys):
    archive = tmp_path / "archive"
    calls = sample_calls()
    calls[0].feedback = []
    write_calls(archive / "calls-1.parquet", calls)  # the calls are written; the agent clicks afterwards
    append_feedback(archive, [mark("c-1", True, 1001.0), mark("c-1", False, 1003.0),
                              mark("c-1", True, 1001.0),  # a redelivery of the first click: older, ignored
                              mark("c-2", True, 1002.0, alert_id="al-9"), mark("c-404", True, 1004.0)])
    assert (archive / FEEDBACK_FILE).exists()
    assert [p.name for p in archive_parts(archive)] == ["calls-1.parquet"]  # a side file, not a part
    by_id = {c.call_id: c for c in read_archive(archive)}
    [changed_mind] = by_id["c-1"].feedback
    assert (changed_mind.feedback_id, changed_mind.helpful, changed_mind.ts) == ("al-2/a-7", False, 1003.0)
    assert (changed_mind.prompt_id, changed_mind.trigger, changed_mind.snippet_id) == ("complaint-own-it", "complaint",
                                                                                      None)
    assert [f.alert_id for f in by_id["c-2"].feedback] == ["al-9"] and by_id["c-3"].feedback == []
    assert "c-404" not in by_id  # kept in feedback.jsonl: it joins its call once that is archived

    for suffix in (".parquet", ".jsonl"):
        out = tmp_path / f"export{suffix}"
        assert main(["label", "export", "--archive", str(archive), "--out", str(out)]) == 0
        assert "2 prompt feedback mark(s)" in capsys.readouterr().out
        exported = {c.call_id: c for c in read_calls(out)}
        assert [(f.feedback_id, f.helpful) for f in exported["c-1"].feedback] == [("al-2/a-7", False)]
        assert exported["c-1"].feedback[0] == changed_mind


def test_marks_in_two_parts_merge_by_feedback_id(tmp_path):
    first, second = sample_calls()[:1], sample_calls()[:1]
    later = CallFeedback("al-2/a-7", "al-2", "supervisor-offer-first", False, "a-7", ts=2000.0)
    second[0].feedback = [later, CallFeedback("al-5/a-7", "al-5", "de-escalate-next-step", True, ts=1500.0)]
    write_calls(tmp_path / "calls-2.parquet", second)  # the later mark in the earlier-sorted part
    write_calls(tmp_path / "calls-3.parquet", first)
    (call,) = read_archive(tmp_path)
    assert {f.feedback_id: f.helpful for f in call.feedback} == {"al-2/a-7": False, "al-5/a-7": True}


def test_files_from_before_feedback_was_archived_still_read(tmp_path):
    calls = sample_calls()
    for c in calls:
        c.feedback = []
    docs = [c.to_dict() for c in calls]
    for d in docs:
        del d["feedback"]
        d["metadata"] = list(d["metadata"].items())
    old_schema = parquet_schema().remove(parquet_schema().get_field_index("feedback"))
    pq.write_table(pa.Table.from_pylist(docs, schema=old_schema), tmp_path / "old.parquet")
    assert [c.to_dict() for c in read_calls(tmp_path / "old.parquet")] == [c.to_dict() for c in calls]
    (tmp_path / "old.jsonl").write_text("".join(json.dumps({k: v for k, v in d.items() if k != "metadata"}) + "\n"
                                                for d in docs))
    assert all(c.feedback == [] for c in read_calls(tmp_path / "old.jsonl"))


def test_bad_feedback_is_refused_naming_the_line(tmp_path):
    good = {"call_id": "ok", "outcome": "calm", "utterances": [{"speaker": "agent", "start": 0, "end": 1, "text": "hi"}]}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({**good, "feedback": [{"feedback_id": "f", "alert_id": "a", "prompt_id": "p",
                                                      "helpful": "yes"}]}) + "\n"
                    + json.dumps({**good, "call_id": "b", "feedback": [{"alert_id": "a"}]}) + "\n")
    with pytest.raises(LabelledCallsError) as err:
        read_calls(path)
    assert "line 1 (call_id 'ok'): feedback[0].helpful must be true or false, got 'yes'" in str(err.value)
    assert "line 2 (call_id 'b'): feedback[0] must be an object with feedback_id" in str(err.value)
    (tmp_path / "archive").mkdir()
    append_feedback(tmp_path / "archive", [mark("c-1", True, 1.0)])
    with open(tmp_path / "archive" / FEEDBACK_FILE, "a") as f:
        f.write('{"call_id": "c-1", "helpful": true}\n')
    with pytest.raises(LabelledCallsError, match=r"(?s)feedback.jsonl: 1 of 2 .*line 2: feedback: missing field"):
        read_archive(tmp_path / "archive")


def test_outcome_messages_decode_and_refuse_nonsense():
    o = Outcome.decode(b'{"call_id": "c-9", "outcome": "escalated", "escalation_time": 31.5}')
    assert (o.call_id, o.outcome, o.escalation_time) == ("c-9", "escalated", 31.5)
    for bad, why in [(b'{"call_id": "c", "outcome": "maybe"}', "expected escalated or calm"),
                     (b'{"call_id": "c", "outcome": "calm", "escalation_time": 3}', "only escalated calls"),
                     (b'{"outcome": "calm"}', "missing field"),
                     (b"nope", "not valid JSON")]:
        with pytest.raises(MalformedMessage, match=why):
            Outcome.decode(bad)


def test_label_import_attaches_outcomes_and_reports_unknown_calls(tmp_path, capsys):
    archive = tmp_path / "archive"
    calls = sample_calls()
    for c in calls:
        c.outcome, c.escalation_time = None, None
    write_calls(archive / "calls-1.parquet", calls)
    csv_path = tmp_path / "outcomes.csv"
    csv_path.write_text("call_id,outcome,escalation_time\nc-1,escalated,12.5\nc-2,calm,\nc-404,calm,\n")
    assert main(["label", "import", str(csv_path), "--archive", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "imported 3 outcome(s) (1 escalated, 2 calm)" in out and "1 call_id(s) are not in the archive yet" in out and out.rstrip().endswith("c-404")
    labelled = {c.call_id: (c.outcome, c.escalation_time) for c in read_calls(archive, labelled_only=True)}
    assert labelled == {"c-1": ("escalated", 12.5), "c-2": ("calm", None)}

    assert main(["label", "export", "--archive", str(archive), "--out", str(tmp_path / "all.parquet"),
                 "--labelled-only"]) == 0
    assert len(read_calls(tmp_path / "all.parquet")) == 2


def test_label_import_refuses_a_bad_csv_whole_and_names_lines(tmp_path, capsys):
    archive = tmp_path / "archive"
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("call_id,outcome,escalation_time\nc-1,escalated,soon\nc-2,calm,4\nc-3,angry,\nc-4,calm,,extra\n"
                        "c-5,escalated,3\nc-5,calm,\n")
    with pytest.raises(LabelledCallsError) as err:
        read_outcomes_csv(csv_path)
    msg = str(err.value)
    for expected in ("line 2: escalation_time 'soon' is not a number",
                     "line 3: escalation_time is set but outcome is 'calm'",
                     "line 4: outcome is 'angry'", "line 5: 4 fields, the header has 3",
                     "line 7: call_id 'c-5' already has a different outcome on line 6"):
        assert expected in msg
    assert main(["label", "import", str(csv_path), "--archive", str(archive)]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (archive / LABELS_FILE).exists(), "nothing may be written from a bad file"
    (tmp_path / "nohead.csv").write_text("c-1,calm\n")
    with pytest.raises(LabelledCallsError, match="header"):
        read_outcomes_csv(tmp_path / "nohead.csv")


def test_cases_round_trip_through_parquet_and_jsonl_and_bad_ones_are_named(tmp_path):
    from callradar.training.labelled_calls import CallCase, CallUtterance, LabelledCall, read_calls, write_calls

    case = CallCase("al-1", "cancellation", 100.0, "resolved", version=4, sla_s=300.0, acknowledged_ts=110.0,
                    acknowledged_by="sam", response_s=10.0, response="met", route_type="functional",
                    route_team="retention", route_tier=2, outcome="false_alarm", resolved_tier=2, resolved_ts=200.0,
                    note="customer was joking", agent_id="a-1")
    call = LabelledCall("c1", "calm", [CallUtterance("customer", 0.0, 1.0, "I'll cancel, ha")], cases=[case])
    for name in ("calls.parquet", "calls.jsonl"):
        (back,) = read_calls(write_calls(tmp_path / name, [call]))
        assert back.cases == [case], name
    old = tmp_path / "old.jsonl"  # written before cases were archived
    old.write_text('{"call_id": "c2", "outcome": null, "utterances": [{"speaker": "agent", "start": 0, "end": 1, '
                   '"text": "Hi"}]}\n')
    assert read_calls(old)[0].cases == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"call_id": "c3", "outcome": null, "utterances": [{"speaker": "agent", "start": 0, "end": 1, '
                   '"text": "Hi"}], "cases": [{"case_id": "x", "trigger": "t", "opened_ts": 1, "status": "open", '
                   '"response": "late"}]}\n')
    with pytest.raises(LabelledCallsError, match=r"line 1 \(call_id 'c3'\): cases\[0\]\.response is 'late'"):
        read_calls(bad)
