"""Live load: N concurrent two-channel calls through the real broker and K workers, in real time.

    .venv/bin/python bench/live_latency.py --calls 4                  # one run, with the compute floor
    .venv/bin/python bench/live_latency.py --sweep 4,10,20,40 --real-calls
    .venv/bin/python bench/live_latency.py --sweep 20 --workers 1,2    # one worker against two, side by side

For each call count N (and worker count K) it replays N simulated calls (with
--real-calls, the first 2 of the N are the two recorded calls in
../shared/data/audio/calls, cut to the simulated calls' length) side by side
at real-time speed through a private embedded Kafka broker on free loopback
ports, into K worker processes of one consumer group running all three stages.
It reports, from the moment an utterance's last voiced audio was captured:
  -> transcript sent by the transcribe stage,
  -> score received by a consumer,
  -> alert received by a consumer (escalation_risk alerts only),
as p50 / p95 / p99; the live transcription real-time factor (from the
workers' own counters); CPU cores and peak memory of each worker, the broker
and this process (the replayer shares the machine); and the simulated
customers' scripted turns that were dropped (never transcribed), unscored, or
late (scored after --budget seconds). The sweep picks the largest N whose p95
(alert and score) stays within --budget and plots latency against N.

--calls N also measures the compute floor as before: the end-of-utterance
silence plus Whisper alone on each utterance, offline, in this process.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.live_load import (  # noqa: E402
    add_counts,
    all_over_budget,
    backlog_series,
    largest_within,
    parse_int_list,
    percentiles,
    prometheus_value,
    threads_per_worker,
    utterance_accounting,
)
from callradar.pipeline.settings import load_settings  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REAL_CALLS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "audio" / "calls"
REAL_CALLS = ("auto_repairs_40", "auto_repairs_49")


class ProcessSampler:
    """CPU seconds and peak resident memory of one process, from /proc (no extra dependency)."""

    def __init__(self):
        self.first: tuple[float, float] | None = None  # (wall, cpu seconds)
        self.last: tuple[float, float] | None = None
        self.peak_rss_mb = 0.0

    def __call__(self, pid: int) -> None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            rss_kb = max(int(line.split()[1]) for line in status if line.startswith(("VmRSS:", "VmHWM:")))
        except (OSError, IndexError, ValueError):
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

    def summary(self) -> dict:
        return {"cpu_cores": round(self.cpu_cores, 2), "peak_rss_mb": round(self.peak_rss_mb)}


def offline_floor(calls, settings) -> dict:
    """Whisper alone on every utterance the segmenter finds: per-utterance time and the RTF."""
    from callradar.models.speech import SpeechToText

    stt = SpeechToText(settings)
    stt.transcribe(np.zeros(16000, np.float32))  # warm-up, as the live worker is warm
    per_utterance, speech_s, channel_s = [], 0.0, 0.0
    for call in calls:
        for segments, seconds in (channel_segments(call, samples, settings) for samples in (call.agent, call.customer)):
            channel_s += seconds
            for seg in segments:
                t0 = time.perf_counter()
                stt.transcribe(seg.audio)
                per_utterance.append(time.perf_counter() - t0)
                speech_s += seg.duration_s
    total = sum(per_utterance)
    return {"utterances": len(per_utterance), "stt_seconds": per_utterance,
            "rtf_of_speech": round(total / speech_s, 4), "rtf_of_call_audio": round(total / channel_s, 4)}


def channel_segments(call, samples, settings):
    """The utterances the segmenter finds in one channel, and the channel's length in seconds."""
    from callradar.pipeline.audio.pcm import int16_to_float, resample
    from callradar.pipeline.audio.segmenter import UtteranceSegmenter

    audio = resample(int16_to_float(samples), call.sample_rate, 16000)
    segmenter = UtteranceSegmenter.from_settings(settings)
    return segmenter.feed(audio) + segmenter.flush(), len(audio) / 16000


def load_real_calls(seconds: float, folder: Path = REAL_CALLS_DIR):
    """The two recorded calls (agent and caller files), cut to ``seconds``."""
    from callradar.pipeline.replay import load_call

    calls = []
    for name in REAL_CALLS:
        call = load_call([folder / f"{name}_agent.wav", folder / f"{name}_caller.wav"],
                         call_id=f"real-{name}")
        n = int(seconds * call.sample_rate)
        calls.append(dataclasses.replace(call, agent=call.agent[:n], customer=call.customer[:n]))
    return calls


def cut_call(call, label: dict, seconds: float | None):
    """A simulated call and its label cut to ``seconds`` (turns that end later are left out)."""
    if seconds is None or seconds >= call.duration_s:
        return call, label
    n = int(seconds * call.sample_rate)
    label = {**label, "transcript": [t for t in label["transcript"] if t["end"] <= seconds]}
    return dataclasses.replace(call, agent=call.agent[:n], customer=call.customer[:n]), label


def customer_turns(label: dict) -> list[tuple[float, float]]:
    return [(t["start"], t["end"]) for t in label["transcript"] if t["speaker"] == "customer"]


def start_broker(base):
    """A private embedded broker on free loopback ports (as tests/conftest.py does), and settings for it."""
    from callradar.pipeline.kafka.embedded import EmbeddedKafka, free_port

    if not base.embedded:
        return base, None, None
    home = Path(base.state_dir).resolve() / "bench-kafka" / str(os.getpid())
    ports = dict(embedded_kafka_port=free_port(), embedded_kafka_controller_port=free_port())
    broker = EmbeddedKafka(dataclasses.replace(base, state_dir=home, **ports))
    broker.start(timeout_s=120)
    # Workers keep the project's state dir (models, caches); only the broker's files are private.
    return dataclasses.replace(base, **ports), broker, home


def pid_of(broker) -> int | None:
    try:
        return int(broker.pid_file.read_text().strip())
    except (AttributeError, OSError, ValueError):
        return None


def run_point(base, calls, labels, n: int, k: int, args, tag: str) -> dict:
    """One live run: the first n calls, k workers. Returns the figures as a dict."""
    from bench.live_run import run_live
    from callradar.pipeline.kafka.clients import ensure_topics

    threads = threads_per_worker(args.threads_per_worker, k, os.cpu_count() or 1)
    partitions = max(args.partitions or base.topic_partitions, k)
    settings = dataclasses.replace(base, topic_prefix=f"{tag}-n{n}k{k}{getattr(args, 'priority_now', '') or ''}-",
                                   topic_partitions=partitions)
    ensure_topics(settings)
    run_calls, run_labels = calls[:n], labels[:n]
    expected = sum(len(lab["transcript"]) for lab in run_labels if lab)
    for call, lab in zip(run_calls, run_labels):
        if not lab:  # a real call: count what the segmenter finds
            expected += sum(len(channel_segments(call, s, settings)[0]) for s in (call.agent, call.customer))

    samplers: dict[int, ProcessSampler] = {}
    broker_sampler, self_sampler = ProcessSampler(), ProcessSampler()
    broker_pid = pid_of(args.broker)

    def sample(pid: int) -> None:
        samplers.setdefault(pid, ProcessSampler())(pid)
        self_sampler(os.getpid())
        if broker_pid:
            broker_sampler(broker_pid)

    load_before = os.getloadavg()
    print(f"-- {n} calls ({sum(1 for lab in run_labels if not lab)} real), {k} worker(s) x {threads} thread(s), "
          f"{getattr(args, 'priority_now', None) or load_settings().stt_priority}, "
          f"{partitions} partitions; load {load_before[0]:.2f}", flush=True)
    # Whisper gets the product's thread setting (or --whisper-threads), never more than its share of cores.
    whisper_threads = min(args.whisper_threads or load_settings().whisper_threads, threads)
    whisper_workers = args.whisper_workers or load_settings().whisper_workers
    ahead_ms = load_settings().vad_transcribe_ahead_ms if args.transcribe_ahead_ms is None else args.transcribe_ahead_ms
    math_threads = args.math_threads or load_settings().math_threads
    priority = getattr(args, "priority_now", None) or load_settings().stt_priority
    env = {"CALLRADAR_WHISPER_THREADS": str(whisper_threads), "CALLRADAR_WHISPER_WORKERS": str(whisper_workers),
           "CALLRADAR_VAD_TRANSCRIBE_AHEAD_MS": str(ahead_ms), "CALLRADAR_MATH_THREADS": str(math_threads),
           "CALLRADAR_STT_PRIORITY": priority}
    archive = ArchiveThread(settings, base.state_dir / "bench-archive" / f"{settings.topic_prefix}")
    run = run_live(settings, run_calls, base.state_dir / "logs" / f"bench-worker-n{n}k{k}.log",
                   sample_worker=sample, expected_scores=expected, workers=k, worker_env=env, settle_s=5.0,
                   stagger_s=args.stagger, chunk_ms=args.chunk_ms, poll_metrics_s=2.0)
    load_after = os.getloadavg()
    archived = archive.stop_and_read()

    all_utterances = run.utterances()
    utterances = {u.utterance_id: (arrived, u) for arrived, u in reversed(all_utterances)}  # first copy wins
    scores = {s.utterance_id: (arrived, s) for arrived, s in reversed(run.scores())}
    speaker = {uid: u.speaker for uid, (_, u) in utterances.items()}
    to_transcript = [u.emitted_ts - u.audio_end_ts for _, u in utterances.values()]
    to_score = [arrived - s.audio_end_ts for arrived, s in scores.values()]
    to_score_by = {who: [arrived - s.audio_end_ts for uid, (arrived, s) in scores.items() if speaker.get(uid) == who]
                   for who in ("customer", "agent")}
    agent_lag = [u.emitted_ts - u.audio_end_ts for _, u in utterances.values() if u.speaker == "agent"]
    # Alerts driven by an utterance; a case's breach alert (pipeline/stages/cases.py) has no utterance behind it.
    risk_alerts = sorted(((arrived, a) for arrived, a in run.alerts() if a.alert_type == "escalation_risk"),
                         key=lambda x: x[0])
    to_alert = [arrived - a.audio_end_ts for arrived, a in risk_alerts if a.audio_end_ts > 0]
    # An alert can fire on an agent utterance's score too (the risk reads both sides); those wait with the agent side.
    to_alert_on_customer = [arrived - a.audio_end_ts for arrived, a in risk_alerts
                            if a.audio_end_ts > 0 and speaker.get(a.utterance_id) == "customer"]
    archived_utterances = {u.utterance_id for call in archived for u in call.utterances}

    accounting = []
    for call, lab in zip(run_calls, run_labels):
        if not lab:
            continue
        mine = [(u.start, u.end, (scores[uid][0] - u.audio_end_ts) if uid in scores else None)
                for uid, (_, u) in utterances.items() if u.call_id == call.call_id and u.speaker == "customer"]
        accounting.append(utterance_accounting(customer_turns(lab), mine, args.budget))
    counts = add_counts(accounting)

    stt_audio = [prometheus_value(m, "callradar_stt_audio_seconds_total") or 0.0 for m in run.worker_metrics]
    stt_busy = [prometheus_value(m, "callradar_stt_busy_seconds_total") or 0.0 for m in run.worker_metrics]
    channel_s = 2 * sum(c.duration_s for c in run_calls)
    workers = [{"pid": pid, **samplers.get(pid, ProcessSampler()).summary(),
                "stt_audio_s": round(a, 1), "stt_busy_s": round(b, 1)}
               for pid, a, b in zip(run.worker_pids, stt_audio, stt_busy)]
    return {
        "calls": n, "workers": k, "threads_per_worker": threads, "whisper_threads": whisper_threads,
        "whisper_workers": whisper_workers, "transcribe_ahead_ms": ahead_ms, "math_threads": math_threads,
        "priority": priority,
        "partitions": partitions,
        "real_calls": sum(1 for lab in run_labels if not lab), "seed": args.seed, "speed": 1.0,
        "stagger_s": args.stagger, "chunk_ms": args.chunk_ms,
        "dead_letters": len(run.dead_letters()),
        "workers_alive_at_end": sum(1 for m in run.worker_metrics if m),
        "transcribed_ahead": {outcome: sum(prometheus_value(m, f'callradar_stt_ahead_total{{outcome="{outcome}"}}') or 0.0
                                           for m in run.worker_metrics) for outcome in ("used", "wasted")},
        "transcribed_ahead_model_s": {
            outcome: round(sum(prometheus_value(m, f'callradar_stt_ahead_seconds_total{{outcome="{outcome}"}}') or 0.0
                               for m in run.worker_metrics), 1) for outcome in ("used", "wasted")},
        "assist_retrievals_shed": sum(prometheus_value(m, 'callradar_shed_total{work="assist_retrieval"}') or 0.0
                                      for m in run.worker_metrics),
        "call_seconds_max": round(max(c.duration_s for c in run_calls), 1),
        "utterances": len(utterances), "scores": len(scores), "alerts": len(to_alert),
        "alerts_without_utterance": len(risk_alerts) - len(to_alert),
        # One line per supervisor alert, to see which utterance fired it and why it came when it did.
        "risk_alerts": [{"call_id": a.call_id, "utterance_id": a.utterance_id, "speaker": speaker.get(a.utterance_id),
                         "trigger": a.trigger, "risk": round(a.risk, 3), "call_time_s": round(a.call_time, 2),
                         "latency_s": round(arrived - a.audio_end_ts, 2) if a.audio_end_ts > 0 else None}
                        for arrived, a in risk_alerts],
        "transcripts_sent_twice": len(all_utterances) - len(utterances),
        "latency_s": {"utterance_end_to_transcript": percentiles(to_transcript),
                      "utterance_end_to_score": percentiles(to_score),
                      "utterance_end_to_alert": percentiles(to_alert),
                      "customer_utterance_end_to_score": percentiles(to_score_by["customer"]),
                      "customer_utterance_end_to_alert": percentiles(to_alert_on_customer),
                      "agent_utterance_end_to_score": percentiles(to_score_by["agent"]),
                      "agent_utterance_end_to_transcript": percentiles(agent_lag)},
        "agent_backlog_over_time": {
            "seconds_of_audio": backlog_series(run.metric_samples, "callradar_stt_agent_backlog_seconds"),
            "calls_behind": backlog_series(run.metric_samples, "callradar_stt_agent_behind_calls")},
        "archive": {"calls": len(archived), "utterances": len(archived_utterances),
                    "utterances_missing": len(set(utterances) - archived_utterances)},
        "customer_turns": counts,
        "transcription_rtf": {
            "of_speech": round(sum(stt_busy) / sum(stt_audio), 4) if sum(stt_audio) else None,
            "of_call_audio": round(sum(stt_busy) / channel_s, 4) if channel_s else None},
        "worker_processes": workers,
        "broker": broker_sampler.summary(), "replayer": self_sampler.summary(),
        "worker_ready_s": round(run.worker_ready_s, 1), "replay_wall_s": round(run.replay_wall_s, 1),
        "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in load_after],
    }


class ArchiveThread:
    """``callradar archive`` on the run's topics, in a thread of this process: is every transcript archived?"""

    def __init__(self, settings, out_dir: Path):
        import threading

        from callradar.pipeline.cli.archive import run_archive

        shutil.rmtree(out_dir, ignore_errors=True)
        self.out_dir, self.stop = out_dir, threading.Event()
        self.thread = threading.Thread(target=run_archive, args=(settings, out_dir, self.stop),
                                       kwargs=dict(grace_s=5.0, report=lambda _s: None), daemon=True, name="archive")
        self.thread.start()

    def stop_and_read(self, catch_up_s: float = 5.0) -> list:
        """Give the archive ``catch_up_s`` to read the last records; stopping writes every call in progress."""
        from callradar.training.labelled_calls import read_archive

        time.sleep(catch_up_s)
        self.stop.set()
        self.thread.join(timeout=60)
        return read_archive(self.out_dir) if self.out_dir.exists() else []


def worst_p95(point: dict) -> float | None:
    """The larger of the customer utterances' score and alert p95 of one run; None when nothing was scored.

    Customer first lets the agent side lag by design (its lag, and alerts fired on agent
    utterances, are reported apart); runs recorded before the split have only the p95 over
    all utterances, which stands in.
    """
    lat = point["latency_s"]
    score = "customer_utterance_end_to_score" if "customer_utterance_end_to_score" in lat else "utterance_end_to_score"
    alert = "customer_utterance_end_to_alert" if "customer_utterance_end_to_alert" in lat else "utterance_end_to_alert"
    if not lat[score]["n"]:
        return None
    return max(lat[h]["p95"] for h in (score, alert) if lat[h]["n"])


def group_key(point: dict, several_priorities: bool) -> str:
    return f"{point['workers']}/{point.get('priority')}" if several_priorities else str(point["workers"])


def choose(points: list[dict], budget_s: float) -> dict:
    """Per worker count: the largest N whose alert and score p95 both stayed within the budget."""
    out = {}
    several = len({p.get("priority") for p in points}) > 1
    for key in sorted({group_key(p, several) for p in points}):
        worst = {p["calls"]: worst_p95(p) for p in points if group_key(p, several) == key}
        out[key] = {"largest_calls_within_budget": largest_within(worst, budget_s), "worst_p95_by_calls": worst}
    return out


def finish(doc: dict, png: Path | None) -> None:
    """The choice, and the plot when there is more than one point."""
    doc["choice"] = choose(doc["points"], doc["budget_s"])
    if png and len(doc["points"]) > 1:
        plot(doc["points"], doc["budget_s"], png, f"{doc['command']} | {doc['machine']} | load "
             f"{doc['load_avg_start'][0]:.1f} -> {doc.get('load_avg_end', [float('nan')])[0]:.1f}")
        doc["plot"] = str(png)
        print(f"plot: {png}")


def plot(points: list[dict], budget_s: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    styles = {50: ("o", ":"), 95: ("s", "-"), 99: ("^", "--")}
    for ax, hop, name in zip(axes, ("utterance_end_to_alert", "utterance_end_to_score"),
                             ("utterance end → alert", "utterance end → score")):
        for k in sorted({p["workers"] for p in points}):
            mine = sorted((p for p in points if p["workers"] == k and p["latency_s"][hop]["n"]), key=lambda p: p["calls"])
            for q, (marker, line) in styles.items():
                xs = [p["calls"] for p in mine]
                ys = [p["latency_s"][hop][f"p{q}"] for p in mine]
                ax.plot(xs, ys, marker=marker, linestyle=line, color=f"C{k - 1}", label=f"p{q}, {k} worker(s)")
        ax.axhline(budget_s, color="red", linewidth=0.8)
        ax.axhline(1.0, color="orange", linewidth=0.8)
        ax.set_title(name)
        ax.set_xlabel("concurrent calls")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds (log scale); red 1.5 s, orange 1.0 s")
    axes[1].legend(fontsize=7)
    fig.suptitle("\n".join(textwrap.wrap(title, 140)), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_priorities(text: str | None) -> list[str | None]:
    """``--priority``: None (the setting's default) or a list of known orders."""
    from callradar.pipeline.settings import STT_PRIORITIES

    if not text:
        return [None]
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in STT_PRIORITIES]
    if unknown or not names:
        raise ValueError(f"--priority {text!r}: choose from {', '.join(STT_PRIORITIES)} (comma-separated to compare)")
    return names


def summary_line(point: dict) -> str:
    """One line a person reads: the customer's and the alerts' p95 against the agent side's lag."""
    lat = point["latency_s"]

    def p(hop: str, q: str = "p95") -> str:
        return f"{lat[hop][q]:.2f}" if lat.get(hop, {}).get("n") else "-"

    backlog = [v for _, v in point["agent_backlog_over_time"]["seconds_of_audio"]]
    return (f"   {point['calls']} calls, {point['priority']}: customer score p50/p95 "
            f"{p('customer_utterance_end_to_score', 'p50')}/{p('customer_utterance_end_to_score')} s, "
            f"alert p95 {p('utterance_end_to_alert')} s (on customer utterances "
            f"{p('customer_utterance_end_to_alert')} s); agent transcript lag p50/p95/max "
            f"{p('agent_utterance_end_to_transcript', 'p50')}/{p('agent_utterance_end_to_transcript')}/"
            f"{p('agent_utterance_end_to_transcript', 'max')} s; agent backlog max {max(backlog, default=0):.0f} s of audio; "
            f"archive {point['archive']['utterances']}/{point['utterances']} utterances; "
            f"dead letters {point['dead_letters']}; sent twice {point['transcripts_sent_twice']}")


def plot_backlog(points: list[dict], path: Path, title: str) -> Path:
    """Agent audio waiting for the model over each run, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    for point in points:
        series = point["agent_backlog_over_time"]["seconds_of_audio"]
        if series:
            ax.plot([t for t, _ in series], [v for _, v in series],
                    label=f"{point['calls']} calls, {point['workers']} worker(s), {point['priority']}")
    ax.set_xlabel("seconds since the replay started")
    ax.set_ylabel("agent audio waiting (s)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.suptitle("\n".join(textwrap.wrap(title, 110)), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--calls", type=int, help="one run with this many calls, plus the compute floor")
    which.add_argument("--sweep", help="comma-separated call counts, e.g. 4,10,20,40")
    parser.add_argument("--workers", default="1", help="worker processes, or a list to compare, e.g. 1,2 (default 1)")
    parser.add_argument("--threads-per-worker", default="auto",
                        help="cores per worker, the cap on its Whisper threads; auto = cores / workers (default)")
    parser.add_argument("--chunk-ms", type=int, default=40,
                        help="audio chunk length on calls.audio, 20-100 ms (default 40; 100 is what streaming "
                             "speech APIs commonly advise)")
    parser.add_argument("--whisper-threads", type=int,
                        help="CTranslate2 threads per worker (default CALLRADAR_WHISPER_THREADS, capped at the "
                             "threads per worker)")
    parser.add_argument("--whisper-workers", type=int,
                        help="speech-to-text batches run at once per worker (default CALLRADAR_WHISPER_WORKERS)")
    parser.add_argument("--math-threads", type=int,
                        help="numpy/BLAS and torch threads per worker (default CALLRADAR_MATH_THREADS, 1; "
                             "before it existed they were the threads per worker)")
    parser.add_argument("--transcribe-ahead-ms", type=int,
                        help="transcribe an utterance ahead after this much silence, 0 = off "
                             "(default CALLRADAR_VAD_TRANSCRIBE_AHEAD_MS)")
    parser.add_argument("--partitions", type=int, help="topic partitions (default CALLRADAR_TOPIC_PARTITIONS, "
                        "at least the worker count)")
    parser.add_argument("--real-calls", action="store_true", help="make the first 2 calls the two recorded calls")
    parser.add_argument("--real-calls-dir", type=Path, default=REAL_CALLS_DIR, help=f"default {REAL_CALLS_DIR}")
    parser.add_argument("--call-seconds", type=float, help="cut every call to this length (quick trials)")
    parser.add_argument("--stagger", type=float, default=0.0,
                        help="start each call this many seconds after the previous one (a steady load over "
                             "time, e.g. the overload run: 40 calls of about 60 s, --stagger 3 keeps about 20 live)")
    parser.add_argument("--priority", help="speech-to-text order, or a list to compare in the same run: "
                        "customer-first,fifo (default CALLRADAR_STT_PRIORITY)")
    parser.add_argument("--budget", type=float, default=1.5, help="p95 budget in seconds (default 1.5)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="folder for the JSON result")
    parser.add_argument("--plot", type=Path, help="PNG of latency against N (sweep; default <out>/<name>.png)")
    parser.add_argument("--name", help="result file name without suffix (default from the arguments)")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every N even after every worker count missed the budget at a smaller N")
    parser.add_argument("--replot", type=Path, metavar="JSON",
                        help="recompute the choice and redraw the plot of a result file (e.g. a run cut short)")
    args = parser.parse_args(argv)
    if args.replot:
        doc = json.loads(args.replot.read_text())
        finish(doc, args.plot or args.replot.with_suffix(".png"))
        args.replot.write_text(json.dumps(doc, indent=2))
        print(json.dumps(doc["choice"], indent=2))
        return 0
    try:
        sweep = parse_int_list(args.sweep, "--sweep") if args.sweep else [args.calls or 4]
        worker_counts = parse_int_list(args.workers, "--workers")
        threads_per_worker(args.threads_per_worker, 1, 1)
        priorities = parse_priorities(args.priority)
    except ValueError as exc:
        parser.error(str(exc))
    if args.real_calls and min(sweep) < 3:
        parser.error("--real-calls makes 2 of the N calls the recorded ones: every N must be at least 3")

    from callradar.pipeline.replay import load_call
    from callradar.pipeline.simulator.calls import load_label, simulate_calls

    base = load_settings()
    n_sim = max(sweep) - (2 if args.real_calls else 0)
    label_paths = simulate_calls(base.state_dir / "bench-calls", n_sim, args.seed)
    labels = [load_label(p) for p in label_paths]
    sim = [cut_call(load_call([p.parent / lab["wav"]]), lab, args.call_seconds) for p, lab in zip(label_paths, labels)]
    calls, labels = [c for c, _ in sim], [lab for _, lab in sim]
    if args.real_calls:
        calls = load_real_calls(max(c.duration_s for c in calls), args.real_calls_dir) + calls
        labels = [None, None] + labels
    name = args.name or (f"live_latency_{sweep[0]}calls" if args.calls else
                         f"live_sweep_{'-'.join(map(str, sweep))}_w{'-'.join(map(str, worker_counts))}")
    machine = f"{os.cpu_count()} CPU cores, {os.uname().machine}"
    print(f"sweep {sweep} x workers {worker_counts}; {machine}; load {os.getloadavg()}", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally below stops the broker
    settings, broker, broker_home = start_broker(base)
    args.broker = broker
    tag = f"bench{int(time.time())}"
    doc = {"command": " ".join(["bench/live_latency.py", *(argv if argv is not None else sys.argv[1:])]),
           "machine": machine, "model": base.whisper_model, "whisper_context": base.whisper_context,
           "vad_end_silence_ms": base.vad_end_silence_ms, "budget_s": args.budget,
           "load_avg_start": [round(x, 2) for x in os.getloadavg()], "points": []}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{name}.json"
    try:
        for i, n in enumerate(sweep):
            for k in worker_counts:
                for args.priority_now in priorities:
                    doc["points"].append(run_point(settings, calls, labels, n, k, args, tag))
                    print(json.dumps(doc["points"][-1]), flush=True)
                    print(summary_line(doc["points"][-1]), flush=True)
                    path.write_text(json.dumps(doc, indent=2))  # after every point: a crash keeps what ran
            at_n = {(p["workers"], p["priority"]): worst_p95(p) for p in doc["points"] if p["calls"] == n}
            if not args.keep_going and i + 1 < len(sweep) and all_over_budget(at_n, args.budget):
                doc["skipped_calls"] = sweep[i + 1:]
                print(f"every worker count missed {args.budget} s at {n} calls: not running {sweep[i + 1:]}")
                break
    finally:
        if broker:
            broker.stop()
            shutil.rmtree(broker_home, ignore_errors=True)
    doc["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]

    if args.calls:  # the single run keeps its baseline: the compute floor, measured in this process
        print("measuring the compute floor offline (Whisper alone on each utterance)", flush=True)
        floor = offline_floor(calls[:args.calls], base)
        end_silence_s = base.vad_end_silence_ms / 1000
        point = doc["points"][0]
        point["baseline_compute_floor_s"] = percentiles(end_silence_s + t for t in floor["stt_seconds"])
        point["offline_transcription_rtf"] = {"of_speech": floor["rtf_of_speech"],
                                              "of_call_audio": floor["rtf_of_call_audio"]}
    finish(doc, None if args.calls else args.plot or args.out / f"{name}.png")
    if any(p["agent_backlog_over_time"]["seconds_of_audio"] for p in doc["points"]):
        doc["backlog_plot"] = str(plot_backlog(doc["points"], args.out / f"{name}_backlog.png", doc["command"]))
        print(f"backlog plot: {doc['backlog_plot']}")
    path.write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc["choice"], indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
