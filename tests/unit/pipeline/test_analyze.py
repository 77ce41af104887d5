"""`callradar analyze` bookkeeping without models: resume, bad files, labels, exit status, progress.

The analyzer is a stand-in here (it makes one utterance per call, and an alert on
calls whose name says so); the real stages run in tests/integration/test_analyze_vs_live.py.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import soundfile as sf

from callradar.pipeline.analyze import (
    AnalysedCall,
    JobResult,
    Progress,
    run_analysis,
    tasks_of,
)
from callradar.pipeline.errors import UserError
from callradar.pipeline.recordings import find_recordings
from callradar.pipeline.records import Alert, Score, Utterance
from callradar.pipeline.settings import load_settings
from callradar.training.labelled_calls import Outcome, read_calls


class CountingAnalyzer:
    """Counts the calls it is given; ``fail_on`` names a call id that raises."""

    analysed: list[str] = []
    started = 0

    def __init__(self, settings, fail_on: str | None = None):
        type(self).started += 1
        self.fail_on = fail_on

    def analyze(self, calls):
        out = []
        for call in calls:
            if call.call_id == self.fail_on:
                raise RuntimeError("boom")
            type(self).analysed.append(call.call_id)
            uid = f"{call.call_id}/customer/0"
            utt = Utterance(uid, call.call_id, "customer", 0, 0.5, 1.0, "hello", 0.9, 1.0)
            score = Score(uid, call.call_id, "customer", 0.5, 1.0, "hello", "neutral", {"neutral": 1.0}, 0.1, 0.2, [],
                          0.7 if "angry" in call.call_id else 0.1, [], "test-v1", 1.0)
            alerts = [Alert("a1", "escalation_risk", call.call_id, uid, 0.7, "supervisor_request", [], "!",
                            call_time=1.0)] if "angry" in call.call_id else []
            out.append(AnalysedCall(call, [utt], [score], alerts, "whisper-test"))
        return out


@pytest.fixture(autouse=True)
def fresh_counts(monkeypatch, tmp_path):
    CountingAnalyzer.analysed = []
    CountingAnalyzer.started = 0
    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path / "state"))


def stereo(path, seconds=1.0, rate=8000):
    t = np.arange(int(seconds * rate)) / rate
    x = (0.2 * np.sin(2 * np.pi * 300 * t) * 32767).astype(np.int16)
    sf.write(str(path), np.stack([x, x], axis=1), rate, subtype="PCM_16")
    return path


def calls_dir(tmp_path, names=("c1", "c2-angry", "c3")):
    folder = tmp_path / "calls"
    folder.mkdir(exist_ok=True)
    for name in names:
        stereo(folder / f"{name}.wav")
    return folder


def analyse(folder, out, **kw):
    recordings, problems = find_recordings([str(folder)])
    return run_analysis(load_settings(), recordings, out, problems=problems,
                        analyzer_factory=kw.pop("factory", CountingAnalyzer),
                        progress=Progress(0, 0.0, stream=io.StringIO()), **kw)


def test_a_resumed_run_does_no_work_twice(tmp_path):
    folder = calls_dir(tmp_path)
    out = tmp_path / "calls.parquet"
    first = analyse(folder, out)
    assert sorted(CountingAnalyzer.analysed) == ["c1", "c2-angry", "c3"] and first.analysed == 3
    second = analyse(folder, out)
    assert sorted(CountingAnalyzer.analysed) == ["c1", "c2-angry", "c3"], "a finished call was analysed again"
    assert (second.analysed, second.resumed, len(second.calls)) == (0, 3, 3)
    assert {c.call_id for c in read_calls(out)} == {"c1", "c2-angry", "c3"}
    # a file that changed since is done again, and only it
    stereo(folder / "c3.wav", seconds=2.0)
    third = analyse(folder, out)
    assert CountingAnalyzer.analysed.count("c3") == 2 and (third.analysed, third.resumed) == (1, 2)


def test_a_moved_folder_resumes_and_the_output_names_where_the_files_are_now(tmp_path):
    folder = calls_dir(tmp_path)
    out = tmp_path / "calls.parquet"
    analyse(folder, out)
    moved = folder.rename(tmp_path / "mounted-elsewhere")
    again = analyse(moved, out)
    assert (again.analysed, again.resumed) == (0, 3), "a moved folder of recordings was analysed again"
    assert {c.metadata["recording"] for c in read_calls(out)} == {str(moved / f"{n}.wav") for n in ("c1", "c2-angry", "c3")}


def test_parts_written_with_whole_paths_still_resume(tmp_path):
    """Parts from before the fingerprint kept only the file name: an upgrade does not redo every call."""
    import json

    folder = calls_dir(tmp_path)
    out = tmp_path / "calls.parquet"
    analyse(folder, out)
    for part in (tmp_path / "calls.parquet.parts").glob("*.json"):
        doc = json.loads(part.read_text())
        doc["fingerprint"]["files"] = [[str(folder.resolve() / f[0]), *f[1:]] for f in doc["fingerprint"]["files"]]
        part.write_text(json.dumps(doc))
    again = analyse(folder, out)
    assert (again.analysed, again.resumed) == (0, 3)


def test_a_crash_loses_only_the_calls_in_flight(tmp_path, monkeypatch):
    monkeypatch.setattr("callradar.pipeline.analyze.TASK_AUDIO_S", 1.0)  # one 1 s call per task
    folder = calls_dir(tmp_path, ("a", "b", "c", "d"))
    out = tmp_path / "calls.jsonl"

    class Crashing(CountingAnalyzer):
        def analyze(self, calls):
            if any(c.call_id == "c" for c in calls):
                raise KeyboardInterrupt  # the process dies here: nothing after it is written
            return super().analyze(calls)

    with pytest.raises(KeyboardInterrupt):
        analyse(folder, out, factory=Crashing)
    assert sorted(CountingAnalyzer.analysed) == ["a", "b"]
    CountingAnalyzer.analysed = []
    again = analyse(folder, out)
    assert sorted(CountingAnalyzer.analysed) == ["c", "d"] and again.resumed == 2


def test_a_bad_file_is_skipped_named_and_counted_in_the_exit_status(tmp_path):
    folder = calls_dir(tmp_path)
    (folder / "broken.wav").write_bytes(b"RIFF junk")
    sf.write(str(folder / "mono.wav"), np.zeros(800, np.int16), 8000)
    summary = analyse(folder, tmp_path / "calls.parquet")
    assert summary.exit_status == 2
    skipped = {p.path: p.message for p in summary.skipped}
    assert "cannot be read as audio" in skipped["broken"] and "has 1 channel" in skipped["mono"]
    assert {c.call_id for c in summary.calls} == {"c1", "c2-angry", "c3"}  # the rest unaffected


def test_a_call_that_breaks_a_stage_is_reported_and_the_others_are_written(tmp_path):
    folder = calls_dir(tmp_path)
    summary = analyse(folder, tmp_path / "calls.parquet",
                      factory=lambda settings: CountingAnalyzer(settings, fail_on="c3"))
    assert [p.path for p in summary.skipped] == ["c3"] and "RuntimeError: boom" in summary.skipped[0].message
    assert {c.call_id for c in summary.calls} == {"c1", "c2-angry"}


def test_exit_status_is_capped_at_100(tmp_path):
    from callradar.pipeline.analyze import RunSummary
    from callradar.pipeline.recordings import Problem

    assert RunSummary([], skipped=[Problem(str(i), "bad") for i in range(250)]).exit_status == 100
    assert RunSummary([]).exit_status == 0


def test_outcomes_are_joined_and_unknown_call_ids_named(tmp_path):
    folder = calls_dir(tmp_path)
    labels = [Outcome("c2-angry", "escalated", 0.5), Outcome("c1", "calm"), Outcome("nobody", "calm")]
    summary = analyse(folder, tmp_path / "calls.parquet", outcomes=labels)
    by_id = {c.call_id: c for c in read_calls(tmp_path / "calls.parquet")}
    assert (by_id["c2-angry"].outcome, by_id["c2-angry"].escalation_time) == ("escalated", 0.5)
    assert by_id["c1"].outcome == "calm" and by_id["c3"].outcome is None
    assert summary.unknown_labels == ["nobody"]


def test_the_output_is_labelled_calls_with_live_fields_alerts_and_recordings(tmp_path):
    folder = calls_dir(tmp_path)
    analyse(folder, tmp_path / "calls.parquet")
    call = {c.call_id: c for c in read_calls(tmp_path / "calls.parquet")}["c2-angry"]
    assert call.source == "analyze"
    u = call.utterances[0]
    assert (u.utterance_id, u.confidence, u.sentiment, u.risk, u.model_version) == (
        "c2-angry/customer/0", 0.9, "neutral", 0.7, "test-v1")
    assert [(a.alert_type, a.trigger, a.call_time) for a in call.alerts] == [("escalation_risk", "supervisor_request", 1.0)]
    assert call.metadata["recording"].endswith("c2-angry.wav") and call.metadata["agent_channel"] == "left"
    assert call.metadata["speech_model"] == "whisper-test"


def test_an_output_that_cannot_be_written_stops_before_any_work(tmp_path):
    folder = calls_dir(tmp_path)
    with pytest.raises(UserError, match="unknown file type '.csv'"):
        analyse(folder, tmp_path / "calls.csv")
    (tmp_path / "adir.parquet").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        analyse(folder, tmp_path / "adir.parquet")
    (tmp_path / "a-file").write_text("")  # a parent that is not a folder: unwritable even for root
    with pytest.raises(UserError, match="cannot write there"):
        analyse(folder, tmp_path / "a-file" / "calls.parquet")
    assert CountingAnalyzer.started == 0 and not CountingAnalyzer.analysed


def test_tasks_hold_about_the_audio_limit_and_at_least_one_call():
    class J:
        def __init__(self, s):
            self.audio_s = s

    jobs = [J(300), J(200), J(200), J(900), J(50)]
    assert [[j.audio_s for j in t] for t in tasks_of(jobs, 600)] == [[300, 200], [200], [900], [50]]


def test_progress_says_calls_hours_and_eta_in_plain_lines():
    stream = io.StringIO()
    progress = Progress(4, 4 * 1800.0, stream=stream, every_s=0.0)
    progress.t0 -= 60  # one minute in
    progress.update(JobResult("a", 1800.0))
    line = stream.getvalue().strip().splitlines()[-1]
    assert line.startswith("analyze: 1/4 calls, 0.50/2.00 h audio, 1:00 elapsed, ETA 3:00")


def test_the_command_exits_with_the_number_of_skipped_files_and_names_them(tmp_path, monkeypatch, capsys):
    from callradar.pipeline import analyze as analyze_module
    from callradar.pipeline.cli.main import main

    folder = calls_dir(tmp_path)
    (folder / "broken.wav").write_bytes(b"RIFF junk")
    (tmp_path / "labels.csv").write_text("call_id,outcome,escalation_time\nc2-angry,escalated,0.6\nghost,calm,\n")
    monkeypatch.setattr(analyze_module, "CallAnalyzer", CountingAnalyzer)
    status = main(["analyze", str(folder), "--out", str(tmp_path / "out.parquet"), "--labels",
                   str(tmp_path / "labels.csv"), "--workers", "1"])
    out, err = capsys.readouterr()
    assert status == 1
    assert "skipped 1 file(s): broken:" in err and "ghost" in err
    assert "wrote 3 call(s)" in out and "escalated calls alerted 1/1" in out
    assert main(["analyze", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "give at least one RECORDING" in capsys.readouterr().err


class DyingAnalyzer(CountingAnalyzer):
    """Kills its worker process on the call named 'killer' (as a crash in native code would)."""

    def analyze(self, calls):
        if any(c.call_id == "killer" for c in calls):
            os._exit(3)
        return super().analyze(calls)


def test_a_call_that_kills_its_worker_is_reported_and_the_others_are_analysed(tmp_path):
    folder = calls_dir(tmp_path, ("a", "killer", "b", "c"))
    summary = analyse(folder, tmp_path / "calls.jsonl", factory=DyingAnalyzer, workers=2)
    assert [p.path for p in summary.skipped] == ["killer"] and "worker process died" in summary.skipped[0].message
    assert sorted(c.call_id for c in summary.calls) == ["a", "b", "c"]
    assert summary.exit_status == 1
