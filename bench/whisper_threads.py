"""Whisper thread count and batch size: CPU cost per second of speech, side by side.

    .venv/bin/python bench/whisper_threads.py          # 96 simulated utterances, 3 passes each

The live transcribe stage hands Whisper what has finished speaking, up to a
batch, on one model thread with ``CALLRADAR_WHISPER_THREADS`` CTranslate2
threads. On a 2-core machine the event loop (Kafka, segmentation), the text
models and the broker share the cores, so what counts at high load is CPU time
per second of speech (CPU RTF), not only wall time. Each setting transcribes the
same utterances (segmented from simulated calls, in end-time order) through
``SpeechToText.transcribe_batch``, the live path; settings are interleaved over
the passes and the medians reported, with the first setting as the baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callradar.models.speech import SpeechToText  # noqa: E402
from callradar.pipeline.records import AudioChunk  # noqa: E402
from callradar.pipeline.replay import load_call  # noqa: E402
from callradar.pipeline.settings import load_settings  # noqa: E402
from callradar.pipeline.simulator.calls import load_label, simulate_calls  # noqa: E402
from callradar.pipeline.stages.transcribe import MODEL_RATE, TranscribeProcessor  # noqa: E402


def utterances(n_calls: int, seed: int, limit: int) -> list:
    """What the live segmenter cuts from simulated calls, in end-time order: (end time, audio)."""
    settings = load_settings()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in simulate_calls(Path(tmp), n_calls, seed):
            call = load_call([label.parent / load_label(label)["wav"]])
            processor = TranscribeProcessor(settings)
            step = int(call.sample_rate * 0.04)
            for channel, samples in (("agent", call.agent), ("customer", call.customer)):
                for seq in range(len(samples) // step):
                    chunk = AudioChunk(call.call_id, channel, seq, call.sample_rate, seq * 0.04,
                                       samples[seq * step : (seq + 1) * step].astype("<i2").tobytes())
                    out += [(u.end, u.audio) for u in processor.on_chunk(chunk, 0.0)]
                out += [(u.end, u.audio) for u in processor.end_channel(call.call_id, channel)]
    out.sort(key=lambda item: item[0])
    return [audio for _, audio in out[:limit]]


def one_pass(stt: SpeechToText, audios: list, batch: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) to transcribe every utterance, ``batch`` at a time."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(audios), batch):
        stt.transcribe_batch(audios[i : i + batch])
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=96)
    parser.add_argument("--calls", type=int, default=8, help="simulated calls to cut utterances from")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settings", default="2x8,1x8,2x16,1x16",
                        help="threads x batch, comma-separated; the first is the baseline (default 2x8,1x8,2x16,1x16)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/whisper_threads.json"))
    args = parser.parse_args()

    combos = [tuple(int(v) for v in item.split("x")) for item in args.settings.split(",")]
    audios = utterances(args.calls, args.seed, args.utterances)
    speech_s = sum(len(a) for a in audios) / MODEL_RATE
    print(f"{len(audios)} utterances, {speech_s:.0f} s of speech; load {os.getloadavg()[0]:.2f}")
    base = load_settings()
    models = {t: SpeechToText(dataclasses.replace(base, whisper_threads=t)) for t in sorted({t for t, _ in combos})}
    for stt in models.values():
        stt.transcribe_batch(audios[:2])  # warm-up
    runs: dict[str, list[tuple[float, float]]] = {f"{t}x{b}": [] for t, b in combos}
    for _ in range(args.repeats):
        for t, b in combos:
            runs[f"{t}x{b}"].append(one_pass(models[t], audios, b))
    rows = {}
    for name, passes in runs.items():
        wall = statistics.median(w for w, _ in passes)
        cpu = statistics.median(c for _, c in passes)
        rows[name] = {"wall_rtf": round(wall / speech_s, 4), "cpu_rtf": round(cpu / speech_s, 4),
                      "utterances_per_s": round(len(audios) / wall, 2)}
    first = next(iter(rows))
    for name, row in rows.items():
        print(f"threads x batch {name}: wall RTF {row['wall_rtf']:.4f}, CPU RTF {row['cpu_rtf']:.4f} "
              f"({rows[first]['cpu_rtf'] / row['cpu_rtf']:.2f}x the CPU efficiency of {first}), "
              f"{row['utterances_per_s']} utterances/s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": "bench/whisper_threads.py " + " ".join(sys.argv[1:]),
                                    "utterances": len(audios), "speech_s": round(speech_s, 1),
                                    "load_avg_start": os.getloadavg(), "rows": rows}, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
