"""Recordings on disk: naming, pairing, metadata and bad files (pipeline/recordings.py), shared by replay and analyze."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from callradar.pipeline.audio.pcm import AudioFileError
from callradar.pipeline.cli.main import main
from callradar.pipeline.recordings import (
    Recording,
    call_name,
    check_recording,
    find_recordings,
    load_recording,
    read_metadata,
)


def tone(hz: float, seconds: float, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)


def mono(path, seconds=1.0, rate=8000, hz=300):
    sf.write(str(path), tone(hz, seconds, rate), rate, subtype="PCM_16")
    return path


def stereo(path, seconds=1.0, rate=8000):
    sf.write(str(path), np.stack([tone(300, seconds, rate), tone(1000, seconds, rate)], axis=1), rate,
             subtype="PCM_16")
    return path


# ---------------------------------------------------------------- naming


@pytest.mark.parametrize("files, name", [
    (["auto_repairs_40_agent.wav", "auto_repairs_40_caller.wav"], "auto_repairs_40"),
    (["c-7-Agent.flac", "c-7-Customer.flac"], "c-7"),
    (["call7_left.wav", "call7_right.wav"], "call7"),
    (["call7-a.wav", "call7-b.wav"], "call7"),
    (["in.wav", "out.wav"], "in+out"),
    (["x.wav"], "x"),
])
def test_a_call_is_named_after_the_call_not_one_of_its_files(files, name):
    assert call_name(files) == name


def test_folders_pair_agent_and_caller_files_and_keep_stereo_files_whole(tmp_path):
    mono(tmp_path / "auto_repairs_40_agent.wav")
    mono(tmp_path / "auto_repairs_40_caller.wav")
    (tmp_path / "sub").mkdir()
    stereo(tmp_path / "sub" / "c2.wav")
    (tmp_path / "notes.txt").write_text("not audio")
    found, problems = find_recordings([str(tmp_path)])
    assert not problems
    by_id = {r.call_id: r for r in found}
    assert set(by_id) == {"auto_repairs_40", "c2"}
    pair = by_id["auto_repairs_40"]
    assert [p.name for p in pair.paths] == ["auto_repairs_40_agent.wav", "auto_repairs_40_caller.wav"]
    assert by_id["c2"].paths == (tmp_path / "sub" / "c2.wav",)


def test_left_and_right_files_follow_the_agent_channel(tmp_path):
    mono(tmp_path / "c_left.wav")
    mono(tmp_path / "c_right.wav")
    (right_agent,), _ = find_recordings([str(tmp_path)], agent_channel="right")
    assert [p.name for p in right_agent.paths] == ["c_right.wav", "c_left.wav"]


def test_one_file_of_a_pair_finds_its_other_side_beside_it(tmp_path):
    mono(tmp_path / "x_agent.wav")
    mono(tmp_path / "x_customer.wav")
    (rec,), problems = find_recordings([str(tmp_path / "x_agent.wav")])
    assert not problems and rec.call_id == "x" and rec.is_pair


def test_an_agent_file_without_its_customer_side_is_named(tmp_path):
    mono(tmp_path / "lonely_agent.wav")
    found, problems = find_recordings([str(tmp_path)])
    assert not found
    assert "lonely_agent.wav" in problems[0].path and "no customer (caller) file" in problems[0].message
    assert "--pair AGENT CUSTOMER" in problems[0].message


def test_a_pair_pattern_pairs_files_named_otherwise(tmp_path):
    mono(tmp_path / "2024-01-02_0001-in.wav")
    mono(tmp_path / "2024-01-02_0001-out.wav")
    (rec,), problems = find_recordings([str(tmp_path)], pair_pattern=("{call}-in.wav", "{call}-out.wav"))
    assert not problems and rec.call_id == "2024-01-02_0001" and rec.paths[0].name.endswith("-in.wav")
    with pytest.raises(ValueError, match=r"\{call\} exactly once"):
        find_recordings([str(tmp_path)], pair_pattern=("in.wav", "{call}-out.wav"))


def test_globs_explicit_pairs_and_missing_inputs(tmp_path):
    stereo(tmp_path / "a.wav")
    stereo(tmp_path / "b.flac")
    mono(tmp_path / "p1.wav")
    mono(tmp_path / "p2.wav")
    found, problems = find_recordings([str(tmp_path / "*.wav"), str(tmp_path / "nope.wav"), str(tmp_path / "*.ogg")],
                                      pairs=[[str(tmp_path / "p1.wav"), str(tmp_path / "p2.wav")]])
    ids = sorted(r.call_id for r in found)
    assert "a" in ids and "b" not in ids and "p1+p2" in ids
    messages = {p.path: p.message for p in problems}
    assert "no such file or folder" in messages[str(tmp_path / "nope.wav")]
    assert "no file matches" in messages[str(tmp_path / "*.ogg")]


def test_the_same_name_in_two_folders_is_told_apart_by_its_folder(tmp_path):
    for day in ("mon", "tue"):
        (tmp_path / day).mkdir()
        stereo(tmp_path / day / "0001.wav")
    found, problems = find_recordings([str(tmp_path)])
    assert not problems and sorted(r.call_id for r in found) == ["mon-0001", "tue-0001"]


def test_a_label_file_beside_the_audio_names_the_call(tmp_path):
    stereo(tmp_path / "x.wav")
    (tmp_path / "x.json").write_text(json.dumps({"call_id": "sim-1", "queue": "billing", "agent_id": "a-9"}))
    (rec,), _ = find_recordings([str(tmp_path / "x.wav")])
    assert rec.call_id == "sim-1"
    call = load_recording(rec, {"queue": "claims"})
    assert call.call_id == "sim-1" and call.metadata == {"queue": "claims", "agent_id": "a-9"}  # the file wins


# ---------------------------------------------------------------- metadata


def test_metadata_from_csv_and_json(tmp_path):
    (tmp_path / "m.csv").write_text("call_id,agent_id,queue,customer_tier\nc1,a7,billing,gold\n")
    assert read_metadata(tmp_path / "m.csv") == {"c1": {"agent_id": "a7", "queue": "billing", "customer_tier": "gold"}}
    (tmp_path / "m.json").write_text(json.dumps({"c1": {"agent_id": "a7", "queue": "billing"}}))
    assert read_metadata(tmp_path / "m.json")["c1"]["queue"] == "billing"
    (tmp_path / "l.json").write_text(json.dumps([{"call_id": "c2", "customer_tier": 3}]))
    assert read_metadata(tmp_path / "l.json") == {"c2": {"customer_tier": "3"}}


@pytest.mark.parametrize("name, text, expected", [
    ("m.csv", "agent_id,queue\na7,billing\n", "header with call_id"),
    ("m.json", "[1, 2]", "keyed by call id"),
    ("m.json", "{not json", "not valid JSON"),
    ("m.yaml", "c1: {}", "use .csv or .json"),
    ("m.csv", "call_id,queue\n,billing\n", "row 1 has no call_id"),
])
def test_a_bad_metadata_file_says_what_is_wrong(tmp_path, name, text, expected):
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=expected):
        read_metadata(tmp_path / name)


# ---------------------------------------------------------------- bad files


def test_bad_files_are_named_with_what_to_do(tmp_path):
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (tmp_path / "empty.wav").write_bytes(b"")
    sf.write(str(tmp_path / "silent.wav"), np.zeros((0, 2), np.int16), 8000)
    mono(tmp_path / "mono.wav")
    cases = {
        "corrupt.wav": "cannot be read as audio",
        "empty.wav": "cannot be read as audio",
        "silent.wav": "contains no audio samples",
        "mono.wav": "has 1 channel(s); a call file needs exactly 2",
    }
    for name, expected in cases.items():
        with pytest.raises(AudioFileError, match=expected.replace("(", r"\(").replace(")", r"\)")) as err:
            check_recording(Recording(name, (tmp_path / name,)))
        assert name in str(err.value)


def test_a_pair_of_different_rates_or_lengths_is_refused(tmp_path):
    rates = Recording("r", (mono(tmp_path / "r_agent.wav", rate=8000), mono(tmp_path / "r_caller.wav", rate=16000)))
    with pytest.raises(AudioFileError, match="sample rates differ.*sox"):
        check_recording(rates)
    lengths = Recording("l", (mono(tmp_path / "l_agent.wav", 10.0), mono(tmp_path / "l_caller.wav", 4.0)))
    with pytest.raises(AudioFileError, match=r"lengths differ: .*l_agent.wav is 10.0 s, .*l_caller.wav is 4.0 s"):
        check_recording(lengths)
    close = Recording("c", (mono(tmp_path / "c_agent.wav", 10.0), mono(tmp_path / "c_caller.wav", 9.6)))
    assert check_recording(close) == pytest.approx(10.0)
    assert len(load_recording(close).customer) == 80000  # padded to one call clock


def test_replay_names_a_pair_after_the_call(tmp_path, monkeypatch):
    """`callradar replay --pair x_agent.wav x_caller.wav` streams call `x` (it used to be `x_agent`)."""
    import callradar.pipeline.cli.replay as replay_cli

    mono(tmp_path / "auto_repairs_40_agent.wav")
    mono(tmp_path / "auto_repairs_40_caller.wav")
    (tmp_path / "meta.csv").write_text("call_id,agent_id,queue\nauto_repairs_40,a-1,service\n")
    streamed = {}

    def fake_replay(calls, send, topics, **kw):
        streamed.update({c.call_id: c.metadata for c in calls})
        raise SystemExit(0)

    monkeypatch.setattr(replay_cli, "replay_calls", fake_replay)
    monkeypatch.setattr("callradar.pipeline.kafka.connect.connect_or_explain", lambda settings: None)
    monkeypatch.setattr("callradar.pipeline.kafka.clients.make_producer", lambda settings: None)
    with pytest.raises(SystemExit):
        main(["replay", "--pair", str(tmp_path / "auto_repairs_40_agent.wav"),
              str(tmp_path / "auto_repairs_40_caller.wav"), "--metadata", str(tmp_path / "meta.csv")])
    assert streamed == {"auto_repairs_40": {"agent_id": "a-1", "queue": "service"}}
