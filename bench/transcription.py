"""Transcription speed and quality: Whisper's standard 30 s window against adaptive context.

    .venv/bin/python bench/transcription.py

One utterance set, the same for every mode:
- reference: jfk.flac and both channels of stereo_diarization.wav (../shared/data/audio/reference),
  with their known transcripts;
- simulated: ``--calls`` simulated calls for each ``--seeds`` value, both channels, cut by the
  live segmenter; each utterance is paired with the label's turns it overlaps;
- real: both channels of the two recorded calls (../shared/data/audio/calls), cut by the
  segmenter; no reference transcript exists, so the naive (full-context) text stands in;
- noise: silence, hiss, a hum and clicks, where every word is a hallucination.

Modes, side by side in the same run:
  naive        faster-whisper transcribe, one utterance at a time, 30 s window (the baseline)
  adaptive-1   adaptive encoder context (models/whisper_decode.py), one utterance at a time
  adaptive-4/8 adaptive context, groups of 4 or 8 utterances in end-time order, as the
               transcribe stage hands over what is ready (one model call per context bucket)
Quality: corpus word error rate of each mode per set; a calibration (the naive mode on the
real-call utterances shifted by 10 and 20 ms of silence: how much tiny.en's reading moves
for no reason, the floor under any "WER against naive"); and a sweep of context policies
(margin, floor and bucket in 10 ms mel frames, with and without the loop guard). Speed:
each mode, and the default policy with a 15 s floor, over a timing sample, ``--repeats``
times with the modes interleaved, medians reported; wall time and the process's CPU time
(the machine is shared, so wall time carries other people's load).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callradar.models.wer import edit_distance, normalize_words  # noqa: E402
from callradar.pipeline.settings import load_settings  # noqa: E402

AUDIO = Path(__file__).resolve().parents[2] / "shared" / "data" / "audio"
REFERENCE_TEXTS = {
    "jfk.flac": ("And so my fellow Americans, ask not what your country can do for you, "
                 "ask what you can do for your country.", None),
    "stereo_diarization.wav": ("He began a confused complaint against the wizard, who had vanished "
                               "behind the curtain on the left.", "The horizon seems extremely distant."),
}
REAL_CALLS = ("auto_repairs_40", "auto_repairs_49")
RATE = 16000
LOOP_WORDS_PER_S = 6.0  # faster than anyone speaks: a repetition loop or invented text
# (margin, floor, bucket) in mel frames; the first ones show why the floor is there
SWEEP = [(300, 0, 100), (1000, 0, 100), (300, 1000, 500), (500, 1000, 500), (300, 1500, 500)]


@dataclass
class Utt:
    set: str  # reference | simulated | real | noise
    name: str
    audio: np.ndarray
    reference: str | None  # None: the naive mode's text stands in
    order: float  # end time on the (simulated) wall clock: batches form in this order
    channel: str = ""  # simulated: the call channel, scored as a whole against its turns
    texts: dict = field(default_factory=dict)  # mode -> text

    @property
    def duration_s(self) -> float:
        return len(self.audio) / RATE


# ------------------------------------------------------------------ the utterance set


def channels_16k(*paths: Path):
    """(agent, customer) as float32 at 16 kHz: one stereo file or an agent/customer pair."""
    from callradar.pipeline.audio.pcm import int16_to_float, read_call_audio, resample

    rate, left, right = read_call_audio(list(paths))
    return [resample(int16_to_float(x), rate, RATE) for x in (left, right)]


def segments(audio: np.ndarray, settings):
    from callradar.pipeline.audio.segmenter import UtteranceSegmenter

    segmenter = UtteranceSegmenter.from_settings(settings)
    return segmenter.feed(audio) + segmenter.flush()


def reference_set() -> list[Utt]:
    out = []
    for name, texts in REFERENCE_TEXTS.items():
        for channel, (audio, text) in enumerate(zip(channels_16k(AUDIO / "reference" / name), texts)):
            if text is not None:
                out.append(Utt("reference", f"{name}:{channel}", audio, text, len(audio) / RATE))
    return out


def simulated_set(settings, seeds: list[int], n_calls: int) -> tuple[list[Utt], dict[str, str]]:
    """Utterances, and each channel's reference text.

    A channel is scored as a whole (its turns against its utterances' texts),
    as the integration test does, because the segmenter now and then splits a
    turn in two or joins an interruption to it.
    """
    from callradar.pipeline.simulator.calls import load_label, simulate_calls

    out, channel_texts = [], {}
    for seed in seeds:
        for label_path in simulate_calls(settings.state_dir / "bench-transcription-calls" / f"seed-{seed}", n_calls, seed):
            label = load_label(label_path)
            for speaker, audio in zip(("agent", "customer"), channels_16k(label_path.parent / label["wav"])):
                turns = [t for t in label["transcript"] if t["speaker"] == speaker]
                channel = f"{label['call_id']}:{speaker}"
                channel_texts[channel] = " ".join(t["text"] for t in turns)
                for seg in segments(audio, settings):
                    # shown next to the texts: the turns whose midpoint the segment holds
                    words = [t["text"] for t in turns if seg.start_s <= (t["start"] + t["end"]) / 2 <= seg.end_s]
                    out.append(Utt("simulated", f"{channel}:{seg.index}", seg.audio, " ".join(words), seg.end_s,
                                   channel))
    return out, channel_texts


def real_set(settings) -> list[Utt]:
    out = []
    for call in REAL_CALLS:
        sides = ("agent", "caller")
        for side, audio in zip(sides, channels_16k(*(AUDIO / "calls" / f"{call}_{side}.wav" for side in sides))):
            out += [Utt("real", f"{call}:{side}:{s.index}", s.audio, None, s.end_s) for s in segments(audio, settings)]
    return out


def noise_set() -> list[Utt]:
    """Audio without speech: any word is invented. Levels like a quiet phone line."""
    rng = np.random.default_rng(7)
    t = np.arange(2 * RATE) / RATE
    clicks = np.zeros(2 * RATE, np.float32)
    clicks[:: RATE // 4] = 0.5
    clips = {
        "silence-1s": np.zeros(RATE, np.float32),
        "hiss-0.5s": 0.01 * rng.standard_normal(RATE // 2),
        "hiss-1s": 0.01 * rng.standard_normal(RATE),
        "hiss-3s": 0.01 * rng.standard_normal(3 * RATE),
        "loud-noise-1s": 0.1 * rng.standard_normal(RATE),
        "hum-2s": 0.05 * np.sin(2 * np.pi * 50 * t) + 0.02 * np.sin(2 * np.pi * 150 * t),
        "clicks-2s": clicks,
    }
    return [Utt("noise", name, a.astype(np.float32), "", i) for i, (name, a) in enumerate(clips.items())]


# ------------------------------------------------------------------ measuring


def make_stt(settings, context: str, threads: int):
    from callradar.models.speech import SpeechToText

    stt = SpeechToText(load_settings(environ={}, whisper_model=settings.whisper_model, whisper_context=context,
                                     whisper_threads=threads, whisper_beam_size=settings.whisper_beam_size))
    stt.transcribe_batch([np.zeros(RATE, np.float32)] * 2)  # warm-up
    return stt


def run_mode(stt, utts: list[Utt], batch: int) -> dict:
    """Transcribe ``utts`` in groups of ``batch``; per-utterance latency is its group's wall time."""
    latency, texts = [], []
    fallbacks = stt.decoder.fallbacks
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for k in range(0, len(utts), batch):
        group = utts[k : k + batch]
        started = time.perf_counter()
        results = stt.transcribe_batch([u.audio for u in group])
        latency += [time.perf_counter() - started] * len(group)
        texts += [r.text for r in results]
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    audio_s = sum(u.duration_s for u in utts)
    return {"texts": texts, "latency": latency, "wall_s": wall, "cpu_s": cpu, "fallbacks": stt.decoder.fallbacks - fallbacks,
            "utterances_per_s": len(utts) / wall, "rtf": wall / audio_s, "cpu_rtf": cpu / audio_s}


def corpus_wer(pairs) -> tuple[float, int]:
    """Total edits over total reference words; pairs of (reference, hypothesis)."""
    edits = words = 0
    for ref, hyp in pairs:
        r, h = normalize_words(ref), normalize_words(hyp)
        edits += edit_distance(r, h)
        words += len(r)
    return (edits / words if words else float("nan")), words


def quality(utts: list[Utt], channel_texts: dict[str, str], mode: str) -> dict:
    """WER per set (real calls: against the naive text), invented words on noise, loops."""
    sets = {
        "reference": [(u.reference, u.texts[mode]) for u in utts if u.set == "reference"],
        "simulated": [(text, " ".join(u.texts[mode] for u in utts if u.channel == channel))
                      for channel, text in channel_texts.items()],
        "real": [(u.texts["naive"], u.texts[mode]) for u in utts if u.set == "real"],
        "real_under_1s": [(u.texts["naive"], u.texts[mode]) for u in utts if u.set == "real" and u.duration_s < 1],
    }
    out = {}
    for name, pairs in sets.items():
        if pairs:
            wer, words = corpus_wer(pairs)
            out[name] = {"wer": round(wer, 4), "words": words, "pieces": len(pairs)}
    noise = [u for u in utts if u.set == "noise"]
    out["noise_words"] = {u.name: len(normalize_words(u.texts[mode])) for u in noise}
    out["loops"] = [u.name for u in utts if u.set != "noise"
                    and len(normalize_words(u.texts[mode])) > LOOP_WORDS_PER_S * u.duration_s + 3]
    return out


def pct(values, q) -> float:
    return round(float(np.percentile(values, q)), 4)


@dataclass(frozen=True)
class Mode:
    context: str  # full | adaptive
    batch: int
    policy: tuple | None = None  # (margin, floor, bucket); None: the default


MODES = {
    "naive": Mode("full", 1),
    "adaptive-1": Mode("adaptive", 1),
    "adaptive-4": Mode("adaptive", 4),
    "adaptive-8": Mode("adaptive", 8),
}
TIMING_ONLY = {  # the more conservative floor, for its price
    "adaptive-1-floor1500": Mode("adaptive", 1, (300, 1500, 500)),
    "adaptive-8-floor1500": Mode("adaptive", 8, (300, 1500, 500)),
}


def run_as(stts: dict, mode: Mode, utts: list[Utt]) -> dict:
    from callradar.models.whisper_decode import ContextPolicy

    stt = stts[mode.context]
    saved = stt.decoder.policy
    stt.decoder.policy = ContextPolicy(*mode.policy) if mode.policy else saved
    try:
        return run_mode(stt, utts, mode.batch)
    finally:
        stt.decoder.policy = saved


def shifted(utts: list[Utt], ms: int) -> list[Utt]:
    pad = np.zeros(RATE * ms // 1000, np.float32)
    return [Utt(u.set, u.name, np.concatenate([pad, u.audio]), u.reference, u.order) for u in utts]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 21])
    parser.add_argument("--calls", type=int, default=8, help="simulated calls per seed (default 8)")
    parser.add_argument("--timing-utterances", type=int, default=96, help="timing sample size (default 96)")
    parser.add_argument("--repeats", type=int, default=3, help="timing passes per mode (default 3)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="whisper_threads to time (default 2 1)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the context-policy sweep")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)

    from callradar.models.whisper_decode import ContextPolicy

    settings = load_settings()
    load_before = os.getloadavg()
    simulated, channel_texts = simulated_set(settings, args.seeds, args.calls)
    utts = reference_set() + simulated + real_set(settings) + noise_set()
    utts.sort(key=lambda u: (u.order, u.name))  # end-time order: what a live stage would batch together
    print(f"{len(utts)} utterances, {sum(u.duration_s for u in utts):.0f} s of audio "
          f"({', '.join(f'{s}: {sum(u.set == s for u in utts)}' for s in ('reference', 'simulated', 'real', 'noise'))})",
          flush=True)

    # Quality: every mode over every utterance once.
    main_threads = args.threads[0]
    stts = {"full": make_stt(settings, "full", main_threads), "adaptive": make_stt(settings, "adaptive", main_threads)}
    adaptive = stts["adaptive"]
    fallbacks = {}
    for name, mode in MODES.items():
        run = run_as(stts, mode, utts)
        for u, text in zip(utts, run["texts"]):
            u.texts[name] = text
        fallbacks[name] = run["fallbacks"]
        print(f"  {name}: {run['wall_s']:.0f} s for all, {run['fallbacks']} loop fallbacks", flush=True)

    # Calibration: how far a harmless change moves the naive text on real calls: 10 or 20 ms
    # of silence before each utterance, no more than the segmenter's own jitter.
    real = [u for u in utts if u.set == "real"]
    calibration = {}
    for ms in (10, 20):
        texts = run_mode(stts["full"], shifted(real, ms), 1)["texts"]
        for name, keep in (("real", lambda u: True), ("real_under_1s", lambda u: u.duration_s < 1)):
            wer, _ = corpus_wer((u.texts["naive"], t) for u, t in zip(real, texts) if keep(u))
            calibration[f"{name}_wer_naive_vs_naive_shifted_{ms}ms"] = round(wer, 4)
    print(f"  calibration: {calibration}", flush=True)

    sweep = {}
    if not args.no_sweep:
        default_policy = adaptive.decoder.policy
        for margin, floor, bucket in SWEEP:
            for guard in (False, True):
                adaptive.decoder.policy = ContextPolicy(margin, floor, bucket)
                adaptive.decoder.loop_fallback = guard
                name = f"margin{margin}-floor{floor}-bucket{bucket}" + ("-guard" if guard else "")
                run = run_mode(adaptive, utts, 8)
                for u, text in zip(utts, run["texts"]):
                    u.texts[name] = text
                sweep[name] = {"margin_frames": margin, "min_frames": floor, "bucket_frames": bucket,
                               "loop_fallback": guard, "fallbacks": run["fallbacks"],
                               **quality(utts, channel_texts, name), "cpu_s_all": round(run["cpu_s"], 1)}
                print(f"  sweep {name}: {json.dumps({k: v for k, v in sweep[name].items() if k != 'noise_words'})}",
                      flush=True)
        adaptive.decoder.policy, adaptive.decoder.loop_fallback = default_policy, True

    # Speed: a fixed random sample, still in end-time order; modes interleaved per repeat.
    sample = sorted(random.Random(3).sample([u for u in utts if u.set != "noise"], min(args.timing_utterances, len(utts))),
                    key=lambda u: (u.order, u.name))
    timed = {**MODES, **TIMING_ONLY}
    timing = {}
    for threads in args.threads:
        if threads != main_threads:
            stts = {"full": make_stt(settings, "full", threads), "adaptive": make_stt(settings, "adaptive", threads)}
        runs = {name: [] for name in timed}
        for r in range(args.repeats):
            for name, mode in timed.items():
                runs[name].append(run_as(stts, mode, sample))
            print(f"  threads {threads}, repeat {r + 1}: "
                  + ", ".join(f"{name} {runs[name][-1]['wall_s']:.1f} s" for name in timed), flush=True)
        for name, rs in runs.items():
            timing[f"{name}@{threads}t"] = {
                "threads": threads, "batch": timed[name].batch, "policy": timed[name].policy,
                "latency_p50_s": statistics.median(pct(r["latency"], 50) for r in rs),
                "latency_p95_s": statistics.median(pct(r["latency"], 95) for r in rs),
                "utterances_per_s": round(statistics.median(r["utterances_per_s"] for r in rs), 2),
                "rtf": round(statistics.median(r["rtf"] for r in rs), 4),
                "cpu_rtf": round(statistics.median(r["cpu_rtf"] for r in rs), 4),
                "fallbacks": rs[0]["fallbacks"],
                "wall_s_per_repeat": [round(r["wall_s"], 2) for r in rs],
            }
    base = timing[f"naive@{main_threads}t"]
    for t in timing.values():
        t["speedup_vs_naive_wall"] = round(base["rtf"] / t["rtf"], 2)
        t["speedup_vs_naive_cpu"] = round(base["cpu_rtf"] / t["cpu_rtf"], 2)

    policy = adaptive.decoder.policy
    result = {
        "command": "bench/transcription.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": adaptive.model_id, "beam_size": adaptive.beam_size, "device": adaptive.device,
        "default_policy": {"margin_frames": policy.margin_frames, "min_frames": policy.min_frames,
                           "bucket_frames": policy.bucket_frames, "loop_fallback": adaptive.decoder.loop_fallback},
        "utterances": {s: sum(u.set == s for u in utts) for s in ("reference", "simulated", "real", "noise")},
        "audio_s": round(sum(u.duration_s for u in utts), 1),
        "timing_sample": {"utterances": len(sample), "audio_s": round(sum(u.duration_s for u in sample), 1),
                          "repeats": args.repeats},
        "quality": {name: {**quality(utts, channel_texts, name), "fallbacks": fallbacks[name]} for name in MODES},
        "calibration": calibration,
        "sweep": sweep,
        "timing": timing,
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        "machine": f"{os.cpu_count()} CPU cores",
        "texts": [{"set": u.set, "name": u.name, "duration_s": round(u.duration_s, 2), "reference": u.reference,
                   **{name: u.texts[name] for name in MODES}} for u in utts],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "transcription.json"
    path.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "texts"}, indent=1))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
