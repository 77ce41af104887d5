"""Per-chunk cost of the transcribe stage's ingest path, without Kafka or Whisper.

    .venv/bin/python bench/ingest_path.py            # 8 simulated calls, 40 ms chunks, best of 5

Every live call sends 25 chunks a second per channel, so at 40 live calls the
worker's event loop takes about 2,000 chunks a second: each microsecond per
chunk is 0.2 % of a core. This times what the stage does with a chunk after
Kafka hands it over (decode the headers and PCM, resample 8 -> 16 kHz, segment),
through the real ``TranscribeProcessor``, and the resampler on its own, with the
generic gather-per-output resampler as the baseline in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callradar.pipeline.audio.pcm import StreamResampler, pcm16_bytes_to_float  # noqa: E402
from callradar.pipeline.records import AudioChunk, decode_audio_message  # noqa: E402
from callradar.pipeline.replay import load_call  # noqa: E402
from callradar.pipeline.settings import load_settings  # noqa: E402
from callradar.pipeline.simulator.calls import load_label, simulate_calls  # noqa: E402
from callradar.pipeline.stages import transcribe  # noqa: E402


class GatherResampler(StreamResampler):
    """The baseline: every output gathers its own window of inputs (any ratio; the old 8 -> 16 kHz path)."""

    def _upsampled(self, until):
        return self._gathered(until)


def chunk_messages(calls, chunk_ms: int) -> list[tuple[bytes, bytes, list]]:
    """The calls as calls.audio messages (key, value, headers), in replay order."""
    out = []
    for call in calls:
        n = int(call.sample_rate * chunk_ms / 1000)
        for channel, samples in (("agent", call.agent), ("customer", call.customer)):
            for seq in range(len(samples) // n):
                chunk = AudioChunk(call.call_id, channel, seq, call.sample_rate, 1000.0 + seq * chunk_ms / 1000,
                                   samples[seq * n : (seq + 1) * n].astype("<i2").tobytes())
                out.append((call.call_id.encode(), chunk.pcm, chunk.headers()))
    return out


def per_chunk_us(run, n: int, repeats: int) -> float:
    """Best of ``repeats`` wall times (other load only ever adds), in microseconds per chunk."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--chunk-ms", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--out", type=Path, default=Path("bench/results/ingest_path.json"))
    args = parser.parse_args()

    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        labels = simulate_calls(Path(tmp), args.calls, args.seed)
        calls = [load_call([p.parent / load_label(p)["wav"]]) for p in labels]
    messages = chunk_messages(calls, args.chunk_ms)
    pcm = [pcm16_bytes_to_float(value) for _, value, _ in messages]
    rate = calls[0].sample_rate
    print(f"{len(messages)} chunks of {args.chunk_ms} ms at {rate} Hz from {args.calls} simulated calls")

    def resample_only(kind):
        def run():
            streams = {}
            for (key, _, headers), audio in zip(messages, pcm):
                channel = (key, dict(headers)["channel"])
                if channel not in streams:
                    streams[channel] = kind(rate, 16000)
                streams[channel].process(audio)
        return run

    def ingest(kind):
        def run():
            transcribe.StreamResampler = kind  # the class the stage builds per channel
            try:
                processor = transcribe.TranscribeProcessor(settings)
                for key, value, headers in messages:
                    processor.on_chunk(decode_audio_message(key, value, headers), 0.0)
            finally:
                transcribe.StreamResampler = StreamResampler
        return run

    n = len(messages)
    figures = {
        "resampler_us_per_chunk": {"gather (baseline)": per_chunk_us(resample_only(GatherResampler), n, args.repeats),
                                   "per-phase FIR": per_chunk_us(resample_only(StreamResampler), n, args.repeats)},
        "ingest_us_per_chunk": {"gather (baseline)": per_chunk_us(ingest(GatherResampler), n, args.repeats),
                                "per-phase FIR": per_chunk_us(ingest(StreamResampler), n, args.repeats)},
    }
    for what, pair in figures.items():
        base, new = pair["gather (baseline)"], pair["per-phase FIR"]
        print(f"{what}: baseline {base:.1f} us, now {new:.1f} us ({base / new:.1f}x); "
              f"at 2,000 chunks/s (40 live calls): {base * 2000 / 1e6:.2f} -> {new * 2000 / 1e6:.2f} cores")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": "bench/ingest_path.py " + " ".join(sys.argv[1:]), "chunks": n,
                                    "chunk_ms": args.chunk_ms, "sample_rate": rate, **figures}, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
