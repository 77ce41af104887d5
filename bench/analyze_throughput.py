"""Throughput of ``callradar analyze`` against the live path at its top speed, on the same calls, in one run.

    .venv/bin/python bench/analyze_throughput.py                      # 4 simulated calls + the 2 real ones
    .venv/bin/python bench/analyze_throughput.py --calls 8 --speed 20 --workers 2

1. analyze: the calls through ``run_analysis`` (worker processes, models loaded
   in each, no Kafka) into a fresh output, start-up included; and once more in
   this process after the models are loaded (the stages' CPU per hour of audio).
2. live: the same calls replayed side by side at ``--speed`` times real time
   through a private embedded broker into one worker, timed from the first chunk
   until every utterance is scored (the count analyze found).

Each path's figure is hours of audio per wall-clock hour, and per CPU-core hour
(audio / CPU seconds the path's processes used: the worker processes, or the live
worker, and apart, the broker's). Also checks the two paths agree on what they
transcribed. Writes JSON to bench/results/ and prints the load. On a GPU machine:

    CALLRADAR_WHISPER_DEVICE=cuda .venv/bin/python bench/analyze_throughput.py --calls 40 --workers 4 --no-live
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REAL_CALLS = Path(__file__).resolve().parents[2] / "shared" / "data" / "audio" / "calls"


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def self_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def proc_cpu_s(pid: int) -> float | None:
    from bench.live_latency import CLOCK_TICKS

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def run_analyze(settings, recordings, workers: int) -> dict:
    from callradar.pipeline.analyze import run_analysis

    with tempfile.TemporaryDirectory() as tmp:
        cpu0, self0, t0 = children_cpu_s(), self_cpu_s(), time.perf_counter()
        summary = run_analysis(settings, recordings, Path(tmp) / "calls.parquet", workers=workers)
        wall = time.perf_counter() - t0
        cpu = children_cpu_s() - cpu0 + self_cpu_s() - self0
    assert not summary.skipped, summary.skipped
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "audio_s": round(summary.audio_s, 1),
            "workers": workers, "utterances": sum(len(c.utterances) for c in summary.calls),
            "texts": {u.utterance_id: u.text for c in summary.calls for u in c.utterances}}


def run_steady(settings, recordings) -> dict:
    """One analyzer in this process, models loaded first: the CPU each stage takes, start-up apart.

    The steps of ``CallAnalyzer.analyze``, timed one by one; then Whisper once more, one
    utterance at a time, to see whether batching pays on this machine and changes any result.
    """
    from callradar.pipeline.analyze import CallAnalyzer, segment_call
    from callradar.pipeline.processes import limit_math_threads
    from callradar.pipeline.recordings import load_recording
    from callradar.pipeline.stages.transcribe import transcript_records

    limit_math_threads(settings.math_threads)
    t0 = time.process_time()
    analyzer = CallAnalyzer(settings)
    load_cpu = time.process_time() - t0
    calls = [load_recording(r) for r in recordings]
    cpu: dict[str, float] = {}
    t0, wall0 = time.process_time(), time.perf_counter()
    finished = [segment_call(call, settings) for call in calls]
    cpu["segment"] = time.process_time() - t0
    everything = [u for utterances in finished for u in utterances]
    t0 = time.process_time()
    batched = analyzer.stt.transcribe_batch([u.audio for u in everything])
    cpu["whisper_batched"] = time.process_time() - t0
    records = iter(transcript_records(everything, batched, analyzer.redact, analyzer.stt.model_id, 0.0))
    t0 = time.process_time()
    for call, utterances in zip(calls, finished):
        analyzer.score_and_trigger(call, [next(records) for _ in utterances])
    cpu["score_and_trigger"] = time.process_time() - t0
    wall = time.perf_counter() - wall0
    t0 = time.process_time()
    single = [analyzer.stt.transcribe(u.audio) for u in everything]
    whisper_single = time.process_time() - t0
    same = sum((a.text, round(a.confidence, 4), round(a.no_speech_prob, 4)) ==
               (b.text, round(b.confidence, 4), round(b.no_speech_prob, 4)) for a, b in zip(batched, single))
    total = sum(cpu.values())
    return {"model_load_cpu_s": round(load_cpu, 1), "cpu_s": round(total, 1), "wall_s": round(wall, 1),
            "audio_s": round(sum(c.duration_s for c in calls), 1), "cpu_s_by_step": {k: round(v, 1) for k, v in cpu.items()},
            "whisper_one_at_a_time_cpu_s": round(whisper_single, 1),
            "batched_equals_one_at_a_time": f"{same}/{len(everything)}"}


def run_live_path(settings, calls, expected: int, speed: float, log_dir: Path) -> dict:
    from bench.live_latency import pid_of, start_broker
    from bench.live_run import run_live

    live_settings, broker, _ = start_broker(settings)
    broker_pid = pid_of(broker)
    cpu: dict[int, list[float]] = {}
    replay_started: list[float] = []

    def sample(pid: int) -> None:  # called from the first chunk on, about once per second of audio, and at the end
        replay_started[:] = replay_started or [time.time()]
        for p in (pid, broker_pid):
            value = proc_cpu_s(p) if p else None
            if value is not None:
                cpu.setdefault(p, []).append(value)

    try:
        result = run_live(live_settings, calls, log_dir / "worker.log", speed=speed, expected_scores=expected,
                          sample_worker=sample)
    finally:
        if broker is not None:
            broker.stop()
    scores = result.scores()
    wall = max(arrived for arrived, _ in scores) - replay_started[0]  # first chunk to last score
    used = {p: v[-1] - v[0] for p, v in cpu.items() if len(v) > 1}
    broker_s = used.pop(broker_pid, 0.0)
    return {"wall_s": round(wall, 1), "cpu_s": round(sum(used.values()), 1), "broker_cpu_s": round(broker_s, 1),
            "speed": speed, "scores": len(scores),
            "texts": {u.utterance_id: u.text for _, u in result.utterances()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4, help="simulated calls (default 4)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--no-real", action="store_true", help="leave out the two real calls from ../shared")
    parser.add_argument("--workers", type=int, default=None, help="analyze worker processes (default: the cores)")
    parser.add_argument("--speed", type=float, default=20.0, help="live replay speed (default 20x real time)")
    parser.add_argument("--no-live", action="store_true", help="analyze only (a GPU machine without a broker)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/analyze_throughput.json"))
    args = parser.parse_args()

    from callradar.pipeline.analyze import default_workers
    from callradar.pipeline.recordings import find_recordings, load_recording
    from callradar.pipeline.settings import load_settings
    from callradar.pipeline.simulator.calls import simulate_calls

    settings = load_settings()
    workers = args.workers or default_workers()
    sim_dir = Path(settings.state_dir) / "bench-calls"
    inputs = [str(p.with_suffix(".wav")) for p in simulate_calls(sim_dir, args.calls, args.seed)]
    if not args.no_real and REAL_CALLS.is_dir():
        inputs.append(str(REAL_CALLS))
    recordings, problems = find_recordings(inputs)
    assert not problems, problems
    load_before = os.getloadavg()
    print(f"{len(recordings)} calls; load before {load_before[0]:.2f}; analyze with {workers} worker(s)", flush=True)
    analyzed = run_analyze(settings, recordings, workers)
    result = {"command": "bench/analyze_throughput.py " + " ".join(sys.argv[1:]), "cores": os.cpu_count(),
              "calls": [r.call_id for r in recordings], "load_before": [round(x, 2) for x in load_before],
              "analyze": {k: v for k, v in analyzed.items() if k != "texts"}}
    audio_h = analyzed["audio_s"] / 3600
    result["analyze"].update(audio_h_per_wall_h=round(analyzed["audio_s"] / analyzed["wall_s"], 1),
                             audio_h_per_core_h=round(analyzed["audio_s"] / analyzed["cpu_s"], 1))
    print(f"analyze: {audio_h:.2f} h of audio in {analyzed['wall_s']} s wall, {analyzed['cpu_s']} CPU s: "
          f"{result['analyze']['audio_h_per_wall_h']} h/h, {result['analyze']['audio_h_per_core_h']} h per core-hour",
          flush=True)
    steady = run_steady(settings, recordings)
    steady["audio_h_per_core_h"] = round(steady["audio_s"] / steady["cpu_s"], 1)
    result["analyze_one_process_after_model_load"] = steady
    print(f"analyze in one process, models loaded ({steady['model_load_cpu_s']} CPU s): {steady['cpu_s']} CPU s "
          f"{steady['cpu_s_by_step']}, {steady['audio_h_per_core_h']} h per core-hour; Whisper one utterance at a "
          f"time {steady['whisper_one_at_a_time_cpu_s']} CPU s, same results {steady['batched_equals_one_at_a_time']}",
          flush=True)
    if not args.no_live:
        calls = [load_recording(r) for r in recordings]
        with tempfile.TemporaryDirectory() as logs:
            live = run_live_path(settings, calls, analyzed["utterances"], args.speed, Path(logs))
        result["live"] = {k: v for k, v in live.items() if k != "texts"}
        result["live"].update(audio_h_per_wall_h=round(analyzed["audio_s"] / live["wall_s"], 1),
                              audio_h_per_core_h=round(analyzed["audio_s"] / live["cpu_s"], 1),
                              audio_h_per_core_h_with_broker=round(
                                  analyzed["audio_s"] / (live["cpu_s"] + live["broker_cpu_s"]), 1))
        same = sum(live["texts"].get(k) == v for k, v in analyzed["texts"].items())
        result["same_transcripts"] = f"{same}/{len(analyzed['texts'])}"
        result["ratio_wall"] = round(result["analyze"]["audio_h_per_wall_h"] / result["live"]["audio_h_per_wall_h"], 2)
        result["ratio_per_core"] = round(result["analyze"]["audio_h_per_core_h"] / result["live"]["audio_h_per_core_h"], 2)
        result["ratio_per_core_after_load"] = round(steady["audio_h_per_core_h"] / result["live"]["audio_h_per_core_h"], 2)
        print(f"live at {args.speed}x: {live['scores']} scores in {live['wall_s']} s wall, {live['cpu_s']} CPU s: "
              f"{result['live']['audio_h_per_wall_h']} h/h, {result['live']['audio_h_per_core_h']} h per core-hour; "
              f"analyze/live {result['ratio_wall']}x wall, {result['ratio_per_core']}x per core "
              f"({result['ratio_per_core_after_load']}x after model loading); "
              f"same transcripts {result['same_transcripts']}", flush=True)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}; load after {result['load_after'][0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
