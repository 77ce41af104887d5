"""Live latency: N concurrent simulated calls through the real broker and worker.

    .venv/bin/python bench/live_latency.py --calls 4

Reports, from the moment an utterance's last voiced audio was captured:
  -> transcript sent by the transcribe stage,
  -> score received by a consumer,
  -> alert received by a consumer (escalation_risk alerts only),
as p50 / p95 / p99 over the run; the worker's CPU and peak memory; and, in the
same run, the baseline those latencies are compared with: the compute floor,
i.e. the end-of-utterance silence the segmenter must wait for plus Whisper's
own time on each utterance transcribed alone, offline, in this process.
Replay is real time (speed 1), so capture times are true wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.settings import load_settings  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ProcessSampler:
    """CPU seconds and resident memory of one process, from /proc (no extra dependency)."""

    def __init__(self):
        self.first: tuple[float, float] | None = None  # (wall, cpu seconds)
        self.last: tuple[float, float] | None = None
        self.peak_rss_mb = 0.0

    def __call__(self, pid: int) -> None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS:"))
        except (OSError, StopIteration, IndexError, ValueError):
            return
        sample = (time.time(), cpu)
        self.first = self.first or sample
        self.last = sample
        self.peak_rss_mb = max(self.peak_rss_mb, rss_kb / 1024)

    @property
    def cpu_cores(self) -> float:
        if not self.first or self.last[0] == self.first[0]:
            return float("nan")
        return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    a = np.asarray(values)
    return {"n": len(a), "p50": round(float(np.percentile(a, 50)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "p99": round(float(np.percentile(a, 99)), 3), "max": round(float(a.max()), 3)}


def offline_floor(calls, settings) -> dict:
    """Whisper alone on every utterance the segmenter finds: per-utterance time and the RTF."""
    from models.speech import SpeechToText
    from pipeline.audio import int16_to_float, resample
    from pipeline.vad import UtteranceSegmenter

    stt = SpeechToText(settings)
    stt.transcribe(np.zeros(16000, np.float32))  # warm-up, as the live worker is warm
    per_utterance, speech_s, channel_s = [], 0.0, 0.0
    for call in calls:
        for samples in (call.agent, call.customer):
            audio = resample(int16_to_float(samples), call.sample_rate, 16000)
            channel_s += len(audio) / 16000
            segmenter = UtteranceSegmenter.from_settings(settings)
            segments = segmenter.feed(audio) + segmenter.flush()
            for seg in segments:
                t0 = time.perf_counter()
                stt.transcribe(seg.audio)
                per_utterance.append(time.perf_counter() - t0)
                speech_s += seg.duration_s
    total = sum(per_utterance)
    return {"utterances": len(per_utterance), "stt_seconds": per_utterance,
            "rtf_of_speech": round(total / speech_s, 4), "rtf_of_call_audio": round(total / channel_s, 4)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4, help="concurrent calls, half escalating (default 4)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="folder for the JSON result")
    args = parser.parse_args(argv)

    from pipeline.broker import EmbeddedKafka
    from pipeline.kafka_io import ensure_topics
    from pipeline.live_run import run_live
    from pipeline.replay import load_call
    from pipeline.simulate import load_label, simulate_calls

    settings = load_settings(topic_prefix=f"bench{int(time.time())}-")
    broker = EmbeddedKafka(settings) if settings.embedded else None
    started_broker = broker.start() if broker else False
    try:
        ensure_topics(settings)
        label_paths = simulate_calls(settings.state_dir / "bench-calls", args.calls, args.seed)
        labels = [load_label(p) for p in label_paths]
        calls = [load_call([p.parent / lab["wav"]]) for p, lab in zip(label_paths, labels)]
        print(f"{args.calls} calls, {max(c.duration_s for c in calls):.0f} s each at most; running the live pipeline",
              flush=True)
        sampler = ProcessSampler()
        run = run_live(settings, calls, settings.state_dir / "logs" / "bench-worker.log", sample_worker=sampler,
                       expected_scores=sum(len(lab["transcript"]) for lab in labels))
    finally:
        if started_broker:
            broker.stop()

    to_transcript = [u.emitted_ts - u.audio_end_ts for _, u in run.utterances()]
    to_score = [arrived - s.audio_end_ts for arrived, s in run.scores()]
    to_alert = [arrived - a.audio_end_ts for arrived, a in run.alerts() if a.alert_type == "escalation_risk"]
    print("measuring the compute floor offline (Whisper alone on each utterance)", flush=True)
    floor = offline_floor(calls, settings)
    end_silence_s = settings.vad_end_silence_ms / 1000
    floor_latency = [end_silence_s + t for t in floor["stt_seconds"]]

    result = {
        "calls": args.calls, "seed": args.seed, "speed": 1.0,
        "utterances": len(to_transcript), "alerts": len(to_alert),
        "latency_s": {"utterance_end_to_transcript": percentiles(to_transcript),
                      "utterance_end_to_score": percentiles(to_score),
                      "utterance_end_to_alert": percentiles(to_alert)},
        "baseline_compute_floor_s": percentiles(floor_latency),
        "ratio_score_p50_to_floor_p50": round(percentiles(to_score)["p50"] / percentiles(floor_latency)["p50"], 2),
        "transcription_rtf": {"of_speech": floor["rtf_of_speech"], "of_call_audio": floor["rtf_of_call_audio"]},
        "worker": {"cpu_cores": round(sampler.cpu_cores, 2), "peak_rss_mb": round(sampler.peak_rss_mb)},
        "worker_ready_s": round(run.worker_ready_s, 1),
        "model": settings.whisper_model, "vad_end_silence_ms": settings.vad_end_silence_ms,
        "machine": f"{os.cpu_count()} CPU cores",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"live_latency_{args.calls}calls.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
