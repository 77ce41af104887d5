"""The call simulator: scripts, planning, determinism, and labels that match the audio."""

from __future__ import annotations

import json
import shutil
import wave

import numpy as np
import pytest

from callradar.pipeline.cli.main import UserError, main
from callradar.pipeline.simulator import calls as simulate
from callradar.pipeline.simulator.calls import load_label, load_scripts, plan_calls, simulate_calls

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng); the simulator synthesizes with it",
)

# What the keyword rules look for; calm scripts and the run-up to an escalation must avoid them.
TRIGGER_WORDS = ("supervisor", "manager", "cancel", "lawyer", "complaint", "third time", "escalat")
SEED = 7


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    return out, simulate_calls(out, 2, seed=SEED)


# ------------------------------------------------------------- no espeak needed


def test_scripts_are_varied_and_escalations_build_up():
    book = load_scripts()
    calm, escalating = book.of_kind("calm"), book.of_kind("escalating")
    assert len(calm) >= 3 and len(escalating) >= 3
    assert len({s.name for s in book.scripts}) == len(book.scripts)
    for s in calm:
        text = " ".join(t.text for t in s.turns).lower()
        assert not [w for w in TRIGGER_WORDS if w in text], s.name
    for s in escalating:
        k = s.escalation_turn
        assert s.turns[k].speaker == "customer"
        assert any(w in s.turns[k].text.lower() for w in TRIGGER_WORDS), s.name
        before = [t for t in s.turns[:k] if t.speaker == "customer"]
        assert len(before) >= 3, "frustration should build over several customer turns"
        assert max(t.frustration for t in before) >= 2
        assert [t.frustration for t in before] == sorted(t.frustration for t in before)
        run_up = " ".join(t.text for t in s.turns[:k]).lower()
        assert not [w for w in TRIGGER_WORDS if w in run_up], s.name
        assert k < len(s.turns) - 1, "the call goes on after the request, so an alert can land in time"


def test_plan_mixes_kinds_deterministically():
    for n in (2, 3, 4, 5, 9):
        kinds = [script.kind for _, script in plan_calls(n, SEED)]
        assert kinds.count("calm") >= min(2, n // 2) and kinds.count("escalating") >= min(2, n // 2)
        assert "calm" in kinds and "escalating" in kinds
    plan = plan_calls(4, SEED)
    assert [cid for cid, _ in plan] == [cid for cid, _ in plan_calls(4, SEED)]
    assert all(cid == f"sim-{SEED}-{i:03d}-{s.name}" for i, (cid, s) in enumerate(plan))
    assert {s.kind for _, s in plan_calls(3, SEED, "calm")} == {"calm"}
    assert {s.kind for _, s in plan_calls(3, SEED, "escalating")} == {"escalating"}
    with pytest.raises(UserError):
        plan_calls(0, SEED)
    with pytest.raises(UserError):
        plan_calls(2, SEED, "angry")


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserError, match="apt-get install espeak-ng"):
        simulate_calls(tmp_path / "out", 1, seed=SEED)
    assert main(["simulate", "--out", str(tmp_path / "out"), "--calls", "1"]) == 2
    assert "apt-get install espeak-ng" in capsys.readouterr().err


def test_load_label_refuses_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"call_id": "x"}')
    with pytest.raises(UserError, match="not a call label"):
        load_label(tmp_path / "x.json")
    with pytest.raises(UserError, match="no such label"):
        load_label(tmp_path / "missing.json")


# ------------------------------------------------------------------ synthesis


@needs_espeak
def test_calls_have_both_kinds_and_a_manifest(sim):
    out, labels = sim
    found = [load_label(p) for p in labels]
    assert {label["outcome"] for label in found} == {"calm", "escalated"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["call_id"] for c in manifest["calls"]] == [label["call_id"] for label in found]
    for label in found:
        x = read_wav(out / label["wav"])
        assert label["sample_rate"] == 8000
        assert label["duration"] == pytest.approx(len(x) / 8000, abs=0.001)
        assert 40 <= label["duration"] <= 80
        assert label["voices"]["agent"]["name"] != label["voices"]["customer"]["name"]


@needs_espeak
def test_transcript_times_match_the_audio(sim):
    """Each turn has speech in its own channel within 50 ms of its start and end; outside turns, silence."""
    out, labels = sim
    sr, edge = 8000, 400  # 50 ms
    for path in labels:
        label = load_label(path)
        x = np.abs(read_wav(out / label["wav"]).astype(np.int32))
        speaking = np.zeros(x.shape, dtype=bool)
        for turn in label["transcript"]:
            ch = simulate.CHANNELS[turn["speaker"]]
            a, b = round(turn["start"] * sr), round(turn["end"] * sr)
            assert 0 <= a < b <= len(x)
            assert x[a : a + edge, ch].max() > 100, f"no speech at the start of {turn['text']!r}"
            assert x[b - edge : b, ch].max() > 100, f"no speech at the end of {turn['text']!r}"
            speaking[max(a - edge, 0) : b + edge, ch] = True
        assert x[~speaking].max(initial=0) == 0, "sound in a channel outside its speaker's turns"
        # the other channel is silent while a turn is spoken, except where the other side talks over it
        assert (speaking[:, 0] & speaking[:, 1]).mean() < 0.1


@needs_espeak
def test_escalation_time_is_the_flagged_customer_turn(sim):
    _, labels = sim
    for path in labels:
        label = load_label(path)
        script = next(s for s in load_scripts().scripts if s.name == label["script"])
        if label["outcome"] == "calm":
            assert label["escalation_time"] is None and label["escalation_turn"] is None
            continue
        turn = label["transcript"][label["escalation_turn"]]
        assert label["escalation_turn"] == script.escalation_turn
        assert turn["speaker"] == "customer"
        assert turn["text"] == script.turns[script.escalation_turn].text
        assert label["escalation_time"] == turn["start"]
        assert 0 < label["escalation_time"] < label["duration"] - 5


@needs_espeak
def test_same_seed_gives_identical_files(sim, tmp_path):
    out, labels = sim
    again = simulate_calls(tmp_path, 2, seed=SEED)
    assert [p.name for p in again] == [p.name for p in labels]
    for name in [p.name for p in labels] + [load_label(p)["wav"] for p in labels] + ["manifest.json"]:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


@needs_espeak
def test_existing_calls_are_reused(sim, monkeypatch, capsys):
    out, labels = sim
    before = {p: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "manifest.json"}

    def no_synthesis(*args, **kwargs):
        raise AssertionError("re-synthesized a call that was already there")

    monkeypatch.setattr(simulate, "render_call", no_synthesis)
    assert simulate_calls(out, 2, seed=SEED) == labels
    assert main(["simulate", "--out", str(out), "--calls", "2", "--seed", str(SEED)]) == 0
    assert capsys.readouterr().out.count("(reused)") == 2
    assert {p: p.stat().st_mtime_ns for p in before} == before
