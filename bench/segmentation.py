"""Segmentation on real telephone audio: the energy segmenter against Silero VAD (issue 16, item 3).

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python bench/segmentation.py   # about 10 min on a busy 2-core machine

Quality, on the reference stretches of the two real calls (bench/reference/auto_repairs_reference.json),
each channel streamed as the transcribe stage streams it (8 kHz chunks of ``--chunk-ms``, the stage's
stream resampler, the segmenter) and every utterance transcribed by SpeechToText with the live settings:
- missed speech: reference words with less than half their length inside any utterance's audio
  (words whose times are in doubt, marked in the reference, count for word errors only);
- noise taken for speech: utterances inside a stretch that overlap no reference word, and how many of
  them come back from Whisper with text (those reach the text models), and all utterances whose text
  is a fragment of at most two words of at most two letters ("T i", "l e");
- words cut: reference words with an utterance's audio edge inside them, 50 ms or more of the word
  on each side;
- word error rate of the utterances' texts (those whose middle lies in a stretch) against the stretch,
  fillers (um, uh) left out of both;
- the reference clips (../shared/data/audio/reference), segmented the same way, against their texts.
Whisper load: utterances and seconds of audio over the whole calls, and Whisper's time on them.
Variants: energy and silero as CALLRADAR_SEGMENTER builds them, and silero-ungated (the model on every
window, no energy gate) to show what the gate changes.
Cost: the segmenter alone per chunk (16 kHz, 20/40/100 ms chunks, real calls), and the transcribe
stage's whole ingest path per chunk (bench/ingest_path.py's harness: decode, resample, segment) on the
ingest benchmark's simulated calls and on the real calls, energy as the baseline in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest_path import chunk_messages, per_chunk_us  # noqa: E402
from callradar.models.wer import edit_distance, normalize_words  # noqa: E402
from callradar.pipeline.audio.pcm import StreamResampler, int16_to_float, read_call_audio, resample  # noqa: E402
from callradar.pipeline.audio.segmenter import make_segmenter  # noqa: E402
from callradar.pipeline.records import decode_audio_message  # noqa: E402
from callradar.pipeline.settings import SEGMENTERS, load_settings  # noqa: E402

AUDIO = ROOT.parent / "shared" / "data" / "audio"
REFERENCE = ROOT / "bench" / "reference" / "auto_repairs_reference.json"
FILE_SIDE = {"agent": "agent", "customer": "caller"}
REFERENCE_CLIPS = {  # file, channel -> text (bench/transcription.py's reference set)
    ("jfk.flac", 0): "And so my fellow Americans, ask not what your country can do for you, ask what you can do "
                     "for your country.",
    ("stereo_diarization.wav", 0): "He began a confused complaint against the wizard, who had vanished behind the "
                                   "curtain on the left.",
    ("stereo_diarization.wav", 1): "The horizon seems extremely distant.",
}
RATE = 16000
CUT_MARGIN_S = 0.05
FRAGMENT = re.compile(r"^(\w{1,2})(\W+\w{1,2})?\W*$")


def call_channels(call: str) -> tuple[int, dict[str, np.ndarray]]:
    """A real call's channels as 8 kHz int16, as they travel on calls.audio."""
    rate, agent, customer = read_call_audio([AUDIO / "calls" / f"{call}_{FILE_SIDE[c]}.wav" for c in FILE_SIDE])
    return rate, {"agent": agent, "customer": customer}


VARIANTS = (*SEGMENTERS, "silero-ungated")  # silero-ungated: the model on every window (no energy gate)


def build(kind: str):
    """A segmenter as the stage builds it for CALLRADAR_SEGMENTER=kind (plus the bench-only variant)."""
    if kind == "silero-ungated":
        segmenter = make_segmenter(load_settings(segmenter="silero"))
        segmenter.gate_db = None
        return segmenter
    return make_segmenter(load_settings(segmenter=kind))


def stream_segments(pcm: np.ndarray, rate: int, kind: str, chunk_ms: int) -> list:
    """The channel as the transcribe stage segments it: int16 chunks, stream resampler, segmenter."""
    segmenter = build(kind)
    resampler = StreamResampler(rate, RATE) if rate != RATE else None
    n = rate * chunk_ms // 1000
    out = []
    for i in range(0, len(pcm), n):
        audio = int16_to_float(pcm[i : i + n])
        out += segmenter.feed(resampler.process(audio) if resampler else audio)
    if resampler:
        out += segmenter.feed(resampler.flush())
    return out + segmenter.flush()


def audio_span(seg) -> tuple[float, float]:
    start = seg.audio_start_sample / RATE
    return start, start + len(seg.audio) / RATE


FILLERS = frozenset(json.loads(REFERENCE.read_text())["fillers"]) if REFERENCE.is_file() else frozenset()


def words(text: str) -> list[str]:
    """Normalised words without fillers (um, uh, ...), which the reference leaves out."""
    return [w for w in normalize_words(text) if w not in FILLERS]


def is_fragment(text: str) -> bool:
    return bool(text.strip()) and bool(FRAGMENT.match(text.strip()))


def stretch_quality(stretch: dict, segs: list, texts: list[str]) -> dict:
    """Missed, noise, cut and word errors of one channel's utterances on one reference stretch."""
    t0, t1, ref_words = stretch["start"], stretch["end"], stretch["words"]
    timed = [w for w in ref_words if not w.get("time_doubt")]  # times good enough for missed and cut
    spans = [audio_span(s) for s in segs]
    missed = []
    for w in timed:
        inside = sum(max(0.0, min(w["e"], b) - max(w["s"], a)) for a, b in spans)
        if inside < 0.5 * max(w["e"] - w["s"], 1e-3):
            missed.append(w)
    cut = [w for w in timed for a, b in spans for edge in (a, b)
           if w["s"] + CUT_MARGIN_S <= edge <= w["e"] - CUT_MARGIN_S]
    within = [(s, t) for s, t in zip(segs, texts) if t0 <= (s.start_s + s.end_s) / 2 < t1]
    noise = [(s, t) for s, t in within
             if not any(w["s"] < s.end_s and w["e"] > s.start_s for w in ref_words)]
    ref = words(" ".join(w["w"] for w in ref_words))
    hyp = words(" ".join(t for _, t in within))
    return {
        "utterances": len(within),
        "ref_words": len(ref),
        "edits": edit_distance(ref, hyp),
        "missed_words": [f"{w['w']}@{w['s']}" for w in missed],
        "missed_seconds": round(sum(w["e"] - w["s"] for w in missed), 2),
        "cut_words": [f"{w['w']}@{w['s']}" for w in cut],
        "noise_utterances": [{"start": round(s.start_s, 2), "end": round(s.end_s, 2), "text": t} for s, t in noise],
        "hypothesis": " ".join(t for _, t in within),
    }


def quality(kind: str, chunk_ms: int, reference: dict, stt) -> dict:
    """Every reference measure for one segmenter, and Whisper's load over the whole calls."""
    stretches_by_channel: dict[tuple[str, str], list[dict]] = {}
    for stretch in reference["stretches"]:
        stretches_by_channel.setdefault((stretch["call"], stretch["channel"]), []).append(stretch)
    out = {"stretches": [], "whole_calls": {"utterances": 0, "audio_s": 0.0, "whisper_s": 0.0, "fragments": []}}
    for call in sorted({c for c, _ in stretches_by_channel}):
        rate, channels = call_channels(call)
        for channel, pcm in channels.items():
            segs = stream_segments(pcm, rate, kind, chunk_ms)
            started = time.perf_counter()
            texts = [t.text for t in stt.transcribe_batch([s.audio for s in segs])]
            whole = out["whole_calls"]
            whole["whisper_s"] += time.perf_counter() - started
            whole["utterances"] += len(segs)
            whole["audio_s"] += sum(len(s.audio) for s in segs) / RATE
            whole["fragments"] += [f"{call}:{channel}@{s.start_s:.2f}: {t}" for s, t in zip(segs, texts)
                                   if is_fragment(t)]
            for stretch in stretches_by_channel.get((call, channel), []):
                q = stretch_quality(stretch, segs, texts)
                out["stretches"].append({"call": call, "channel": channel, "start": stretch["start"],
                                         "end": stretch["end"], **q})
    clips = []
    for (name, channel), text in REFERENCE_CLIPS.items():
        import soundfile as sf

        data, rate = sf.read(str(AUDIO / "reference" / name), dtype="int16", always_2d=True)
        pcm = data[:, channel]
        pcm = resample(pcm, rate, RATE) if rate not in (8000, RATE) else pcm  # as replay sends it
        segs = stream_segments(pcm, RATE if rate not in (8000, RATE) else rate, kind, chunk_ms)
        hyp = " ".join(t.text for t in stt.transcribe_batch([s.audio for s in segs]))
        ref = words(text)
        clips.append({"clip": f"{name}:{channel}", "utterances": len(segs), "ref_words": len(ref),
                      "edits": edit_distance(ref, words(hyp)), "hypothesis": hyp})
    out["clips"] = clips
    st = out["stretches"]
    ref_words = sum(s["ref_words"] for s in st)
    out["summary"] = {
        "ref_words": ref_words,
        "wer": round(sum(s["edits"] for s in st) / ref_words, 4),
        "missed_words": sum(len(s["missed_words"]) for s in st),
        "missed_seconds": round(sum(s["missed_seconds"] for s in st), 2),
        "cut_words": sum(len(s["cut_words"]) for s in st),
        "utterances_in_stretches": sum(s["utterances"] for s in st),
        "noise_utterances": sum(len(s["noise_utterances"]) for s in st),
        "noise_with_text": sum(1 for s in st for n in s["noise_utterances"] if n["text"].strip()),
        "clips_wer": round(sum(c["edits"] for c in clips) / sum(c["ref_words"] for c in clips), 4),
        "whole_calls_utterances": out["whole_calls"]["utterances"],
        "whole_calls_audio_s": round(out["whole_calls"]["audio_s"], 1),
        "whole_calls_whisper_s": round(out["whole_calls"]["whisper_s"], 2),
        "whole_calls_fragments": len(out["whole_calls"]["fragments"]),
    }
    return out


def segmenter_cost(calls: list[str], chunk_ms_list: list[int], repeats: int) -> dict:
    """The segmenter alone, microseconds per chunk of 16 kHz audio from the real calls."""
    audio = []
    for call in calls:
        rate, channels = call_channels(call)
        audio += [resample(int16_to_float(pcm), rate, RATE) for pcm in channels.values()]
    out = {}
    for kind in VARIANTS:
        for chunk_ms in chunk_ms_list:
            n = RATE * chunk_ms // 1000
            chunks = sum(len(a) // n for a in audio)

            def run(kind=kind, n=n):
                for a in audio:
                    segmenter = build(kind)
                    for i in range(0, len(a) - n + 1, n):
                        segmenter.feed(a[i : i + n])

            out[f"{kind}@{chunk_ms}ms"] = round(per_chunk_us(run, chunks, repeats), 1)
    return out


def ingest_cost(chunk_ms_list: list[int], repeats: int, n_sim: int, seed: int) -> dict:
    """bench/ingest_path.py's whole-path cost per chunk, for each segmenter, simulated and real calls."""
    from callradar.pipeline.simulator.calls import load_label, simulate_calls
    from callradar.pipeline.stages import transcribe

    with tempfile.TemporaryDirectory() as tmp:
        sim = []
        for p in simulate_calls(Path(tmp), n_sim, seed):
            rate, agent, customer = read_call_audio([p.parent / load_label(p)["wav"]])
            sim.append(SimpleNamespace(call_id=p.stem, sample_rate=rate, agent=agent, customer=customer))
    real = []
    for call in ("auto_repairs_40", "auto_repairs_49"):
        rate, ch = call_channels(call)
        real.append(SimpleNamespace(call_id=call, sample_rate=rate, agent=ch["agent"], customer=ch["customer"]))
    out = {}
    for set_name, calls in (("simulated", sim), ("real", real)):
        for chunk_ms in chunk_ms_list:
            messages = chunk_messages(calls, chunk_ms)
            for kind in SEGMENTERS:
                settings = load_settings(segmenter=kind)

                def run(settings=settings, messages=messages):
                    processor = transcribe.TranscribeProcessor(settings)
                    for key, value, headers in messages:
                        processor.on_chunk(decode_audio_message(key, value, headers), 0.0)

                us = per_chunk_us(run, len(messages), repeats)
                cores_40 = us * 2 * 40 * (1000 / chunk_ms) / 1e6  # 40 live two-channel calls
                out[f"{set_name}:{kind}@{chunk_ms}ms"] = {"us_per_chunk": round(us, 1), "chunks": len(messages),
                                                          "cores_at_40_calls": round(cores_40, 3)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-ms", type=int, default=40, help="chunk size of the quality runs")
    parser.add_argument("--cost-chunks", default="20,40,100")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sim-calls", type=int, default=8)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "segmentation.json")
    args = parser.parse_args()

    result = {"command": "bench/segmentation.py " + " ".join(sys.argv[1:]), "load_before": os.getloadavg()}
    cost_chunks = [int(c) for c in args.cost_chunks.split(",")]
    if not args.skip_quality:
        from callradar.models.speech import SpeechToText

        reference = json.loads(REFERENCE.read_text())
        stt = SpeechToText(load_settings())
        result["quality"] = {kind: quality(kind, args.chunk_ms, reference, stt) for kind in VARIANTS}
        for kind in VARIANTS:
            print(kind, json.dumps(result["quality"][kind]["summary"]))
    result["segmenter_us_per_chunk"] = segmenter_cost(["auto_repairs_40", "auto_repairs_49"], cost_chunks,
                                                      args.repeats)
    print("segmenter alone, us per chunk:", result["segmenter_us_per_chunk"])
    result["ingest_us_per_chunk"] = ingest_cost(cost_chunks, args.repeats, args.sim_calls, args.seed)
    for name, figures in result["ingest_us_per_chunk"].items():
        print(f"ingest {name}: {figures}")
    result["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
