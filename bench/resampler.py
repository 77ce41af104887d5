"""StreamResampler (pipeline/audio/pcm.py) against python-soxr's stream resampler, in one run.

    nice -n 5 .venv/bin/python bench/resampler.py             # cost, quality, alignment, Whisper
    nice -n 5 .venv/bin/python bench/resampler.py --no-whisper

soxr is for this comparison only, not a project dependency (ours was kept: docs/benchmarks.md):
``.venv/bin/uv pip install --python .venv/bin/python soxr`` first.

The transcribe stage resamples every 8 kHz wire chunk (20-100 ms) to 16 kHz with one
stream per channel; 16 kHz chunks pass through untouched (no resampler is built), so
8 -> 16 kHz is the only ratio that matters live. On the first minute of each real 8 kHz
call channel (../shared/data/audio/calls; simulated calls where absent) and JFK taken
down to 8 kHz, each candidate is measured for:
- cost: microseconds per chunk at 40 and 100 ms chunks, best of ``--repeats``;
- quality: signal-to-error (dB) of the streamed output against an ideal band-limited
  (FFT) 2x of the same 8 kHz signal, whole band and below 3.4 kHz, ends excluded;
- alignment: the lag (output samples) at which the output best matches that reference,
  which the segmenter's timestamps assume is 0;
- latency: how far the output trails the input after each chunk (ms), and the share of
  chunks that return nothing (the stage sizes a lost chunk's stand-in silence from the
  next chunk's output length, and ties a chunk's capture time to its output position);
- chunking: largest difference between the streamed output and the same method on the
  whole signal at once (0 means chunk boundaries leave no trace);
- Whisper (tiny.en, as configured): JFK's WER against its text, and each real channel's
  transcript through the live segmenter, soxr's path against ours.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import soxr
from scipy.signal import resample as fft_resample

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callradar.models.wer import word_error_rate  # noqa: E402
from callradar.pipeline.audio.pcm import StreamResampler, int16_to_float, read_call_audio, resample  # noqa: E402

AUDIO = Path(__file__).resolve().parents[2] / "shared" / "data" / "audio"
JFK_TEXT = ("And so my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country.")
FROM, TO = 8000, 16000
EDGE_S = 0.5  # both ends left out of the quality figures: the FFT reference wraps around there


class SoxrStream:
    """soxr.ResampleStream behind StreamResampler's process/flush interface."""

    def __init__(self, from_rate: int, to_rate: int, quality: str = "HQ"):
        self._stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality=quality)

    def process(self, x: np.ndarray) -> np.ndarray:
        return self._stream.resample_chunk(np.asarray(x, dtype=np.float32))

    def flush(self) -> np.ndarray:
        return self._stream.resample_chunk(np.zeros(0, np.float32), last=True)


CANDIDATES = {
    "ours (polyphase FIR)": lambda: StreamResampler(FROM, TO),
    "soxr HQ (default)": lambda: SoxrStream(FROM, TO, "HQ"),
    "soxr LQ": lambda: SoxrStream(FROM, TO, "LQ"),
    "soxr QQ (cubic)": lambda: SoxrStream(FROM, TO, "QQ"),
}
WHOLE = {  # the same method on the whole signal at once
    "ours (polyphase FIR)": lambda x: resample(x, FROM, TO),
    "soxr HQ (default)": lambda x: soxr.resample(x, FROM, TO, "HQ"),
    "soxr LQ": lambda x: soxr.resample(x, FROM, TO, "LQ"),
    "soxr QQ (cubic)": lambda x: soxr.resample(x, FROM, TO, "QQ"),
}


def sources() -> dict[str, np.ndarray]:
    """float32 8 kHz signals: the first minute of each real channel, and JFK at 8 kHz."""
    out = {}
    for name in ("auto_repairs_40_caller", "auto_repairs_49_agent"):
        path = AUDIO / "calls" / f"{name}.wav"
        if path.exists():
            rate, agent, _ = read_call_audio([path, path])
            assert rate == FROM, rate
            out[name] = int16_to_float(agent[: 60 * FROM])
    if not out:  # no shared data: a simulated call stands in
        import tempfile

        from callradar.pipeline.replay import load_call
        from callradar.pipeline.simulator.calls import load_label, simulate_calls

        with tempfile.TemporaryDirectory() as tmp:
            label = simulate_calls(Path(tmp), 1, 21)[0]
            call = load_call([label.parent / load_label(label)["wav"]])
        out["simulated"] = int16_to_float(call.customer[: 60 * FROM])
    jfk = AUDIO / "reference" / "jfk.flac"
    if jfk.exists():
        rate, left, _ = read_call_audio(jfk)
        out["jfk_8k"] = resample(int16_to_float(left), rate, FROM)
    return out


def stream(make, x: np.ndarray, chunk: int) -> tuple[np.ndarray, list[int]]:
    """The whole streamed output (flush included) and the output count after each chunk."""
    resampler, parts, counts, total = make(), [], [], 0
    for i in range(0, len(x), chunk):
        y = resampler.process(x[i : i + chunk])
        parts.append(y)
        total += len(y)
        counts.append(total)
    parts.append(resampler.flush())
    return np.concatenate(parts), counts


def per_chunk_us(make, x: np.ndarray, chunk: int, repeats: int) -> float:
    chunks = [x[i : i + chunk] for i in range(0, len(x) - chunk + 1, chunk)]
    best = float("inf")
    for _ in range(repeats):
        resampler = make()
        t0 = time.perf_counter()
        for c in chunks:
            resampler.process(c)
        best = min(best, time.perf_counter() - t0)
    return best / len(chunks) * 1e6


def snr_db(reference: np.ndarray, y: np.ndarray, below_hz: float | None = None) -> float:
    error = y - reference
    if below_hz is not None:  # keep only the error's in-band part
        spectrum = np.fft.rfft(error)
        spectrum[np.fft.rfftfreq(len(error), 1 / TO) > below_hz] = 0
        error = np.fft.irfft(spectrum, len(error))
        spectrum = np.fft.rfft(reference)
        spectrum[np.fft.rfftfreq(len(reference), 1 / TO) > below_hz] = 0
        reference = np.fft.irfft(spectrum, len(reference))
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum(error**2), 1e-30)))


def best_lag(reference: np.ndarray, y: np.ndarray, span: int = 200) -> int:
    """The shift of y (in output samples) that matches the reference best; 0 = aligned."""
    inner = slice(span, len(reference) - span)
    scores = {lag: float(np.dot(reference[inner], y[span + lag : len(reference) - span + lag]))
              for lag in range(-span, span + 1)}
    return max(scores, key=scores.get)


def quality(x: np.ndarray, chunk_ms: int) -> dict:
    chunk = FROM * chunk_ms // 1000
    ideal = fft_resample(x.astype(np.float64), 2 * len(x)).astype(np.float32)
    edge = int(EDGE_S * TO)
    out = {}
    for name, make in CANDIDATES.items():
        y, counts = stream(make, x, chunk)
        whole = WHOLE[name](x)
        n = min(len(y), len(ideal))
        trail_ms = [(2 * min((k + 1) * chunk, len(x)) - c) / TO * 1000 for k, c in enumerate(counts)]
        out[name] = {
            "output_samples": len(y),
            "expected_samples": 2 * len(x),
            "snr_db": round(snr_db(ideal[edge : n - edge], y[edge : n - edge]), 1),
            "snr_db_below_3400hz": round(snr_db(ideal[edge : n - edge], y[edge : n - edge], 3400.0), 1),
            "lag_samples": best_lag(ideal[:n], y[:n]),
            "trail_ms_max": round(max(trail_ms), 2),
            "trail_ms_mean": round(float(np.mean(trail_ms)), 2),
            "empty_chunks": round(sum(1 for a, b in zip([0, *counts], counts) if a == b) / len(counts), 3),
            "stream_vs_whole_max_abs": float(np.max(np.abs(y[: len(whole)] - whole[: len(y)]))),
        }
    return out


def whisper(signals: dict[str, np.ndarray], chunk_ms: int) -> dict:
    from callradar.models.speech import SpeechToText
    from callradar.pipeline.audio.segmenter import UtteranceSegmenter
    from callradar.pipeline.settings import load_settings

    settings = load_settings()
    stt = SpeechToText(settings)
    chunk = FROM * chunk_ms // 1000
    out = {"model": settings.whisper_model}
    for name, x in signals.items():
        texts, spans = {}, {}
        for method in ("ours (polyphase FIR)", "soxr HQ (default)"):
            resampler, segmenter, segments = CANDIDATES[method](), UtteranceSegmenter.from_settings(settings), []
            for i in range(0, len(x), chunk):
                segments += segmenter.feed(resampler.process(x[i : i + chunk]))
            segments += segmenter.feed(resampler.flush()) + segmenter.flush()
            texts[method] = " ".join(r.text for r in stt.transcribe_batch([s.audio for s in segments]))
            spans[method] = [(s.start_sample, s.end_sample) for s in segments]
        ours, theirs = texts["ours (polyphase FIR)"], texts["soxr HQ (default)"]
        row = {"utterances": {m: len(s) for m, s in spans.items()},
               "segment_bounds_moved_samples_max": max(
                   (max(abs(a[0] - b[0]), abs(a[1] - b[1]))
                    for a, b in zip(*spans.values())), default=0) if len({len(s) for s in spans.values()}) == 1
               else "different counts",
               "wer_soxr_text_against_ours": round(word_error_rate(ours, theirs), 4)}
        if name == "jfk_8k":
            row["wer_against_truth"] = {m: round(word_error_rate(JFK_TEXT, t), 4) for m, t in texts.items()}
        row["texts"] = texts
        out[name] = row
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-whisper", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench/results/resampler.json"))
    args = parser.parse_args()

    signals = sources()
    costing = np.concatenate(list(signals.values()))
    print(f"signals: {', '.join(f'{k} {len(v) / FROM:.1f} s' for k, v in signals.items())}; soxr {soxr.__version__}")
    cost = {}
    for chunk_ms in (40, 100):
        row = {name: round(per_chunk_us(make, costing, FROM * chunk_ms // 1000, args.repeats), 1)
               for name, make in CANDIDATES.items()}
        cost[f"{chunk_ms}ms"] = row
        print(f"us per {chunk_ms} ms chunk: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    result = {"command": "bench/resampler.py " + " ".join(sys.argv[1:]), "soxr": soxr.__version__,
              "signals_s": {k: round(len(v) / FROM, 2) for k, v in signals.items()},
              "us_per_chunk_8k_to_16k": cost, "quality_40ms": {}, "quality_100ms": {}}
    for chunk_ms in (40, 100):
        for name, x in signals.items():
            result[f"quality_{chunk_ms}ms"][name] = quality(x, chunk_ms)
    for name, row in result["quality_40ms"].items():
        print(f"quality, {name}, 40 ms chunks:")
        for method, q in row.items():
            print(f"  {method:22s} {q}")
    if not args.no_whisper:
        result["whisper_40ms"] = whisper(signals, 40)
        for name, row in result["whisper_40ms"].items():
            if name != "model":
                print(f"whisper, {name}: " + json.dumps({k: v for k, v in row.items() if k != "texts"}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
