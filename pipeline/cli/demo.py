"""``callradar demo``: the whole pipeline on this machine, live, in one command.

Starts the embedded Kafka broker (unless CALLRADAR_KAFKA_BOOTSTRAP points at a
cluster), a worker running every stage, makes sample calls, replays calm and
escalating calls side by side, prints transcripts and alerts as they happen,
and stops what it started.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class CallOutcome:
    call_id: str
    expected: str  # escalated | calm (from the simulator's label)
    escalation_time: float | None
    expected_utterances: int = 0  # the scripted turns; the pipeline is done when it has scored them
    utterances: int = 0
    alerts: list = field(default_factory=list)  # escalation_risk alerts
    prompts: int = 0
    max_risk: float = 0.0

    @property
    def first_alert_time(self) -> float | None:
        return min((a["call_time"] for a in self.alerts), default=None)

    @property
    def correct(self) -> bool:
        return bool(self.alerts) == (self.expected == "escalated")


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the live demo: embedded Kafka, workers, sample calls, live alerts")
    p.add_argument("--calls", type=int, default=4, help="concurrent sample calls, half of them escalating (default 4)")
    p.add_argument("--seed", type=int, default=7, help="seed for the sample calls (default 7)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed, 1 = real time (default 1)")
    p.add_argument("--keep-running", action="store_true", help="leave Kafka and the worker running at the end")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from callradar.pipeline.cli.main import UserError
    from callradar.pipeline.settings import load_settings

    if args.calls < 2:
        raise UserError("--calls must be at least 2 (one calm, one escalating)")
    outcomes = run_demo(load_settings(), calls=args.calls, seed=args.seed, speed=args.speed,
                        keep_running=args.keep_running)
    return 0 if all(o.correct for o in outcomes) else 1


def run_demo(settings, calls: int = 4, seed: int = 7, speed: float = 1.0, keep_running: bool = False,
             say=print) -> list[CallOutcome]:
    from callradar.pipeline.kafka.clients import ensure_topics, make_producer
    from callradar.pipeline.kafka.connect import connect_or_explain
    from callradar.pipeline.kafka.embedded import EmbeddedKafka
    from callradar.pipeline.processes import WorkerProcess
    from callradar.pipeline.records import Topics
    from callradar.pipeline.replay import load_call, replay_calls
    from callradar.pipeline.simulator.calls import load_label, simulate_calls
    from callradar.pipeline.watch import LiveView, follow

    view = LiveView()
    broker = EmbeddedKafka(settings) if settings.embedded else None
    broker_started_here = False
    worker = None
    stop_follow = threading.Event()
    try:
        if broker:
            say(view.paint("[1/5] starting the embedded Kafka broker", "bold"))
            broker_started_here = broker.start()
        else:
            say(view.paint(f"[1/5] using Kafka at {settings.bootstrap}", "bold"))
        connect_or_explain(settings)
        ensure_topics(settings)

        say(view.paint(f"[2/5] making {calls} sample calls (seed {seed})", "bold"))
        label_paths = simulate_calls(settings.state_dir / "sample-calls", calls, seed)
        labels = [load_label(p) for p in label_paths]
        wavs = [p.parent / label["wav"] for p, label in zip(label_paths, labels)]

        say(view.paint("[3/5] starting the worker (loading Whisper and the text models)", "bold"))
        worker = WorkerProcess(settings, settings.state_dir / "logs" / "demo-worker.log").start()
        took = worker.wait_ready()
        say(f"      worker ready in {took:.1f} s (log: {worker.log_path})")

        # Each run gets call ids of its own: the stages remember ended calls (crash recovery),
        # so the same ids replayed again would be taken for redelivered audio and skipped.
        run_tag = time.strftime("%H%M%S")
        call_ids = [f"{lab['call_id']}-{run_tag}" for lab in labels]
        outcomes = {cid: CallOutcome(cid, lab["outcome"], lab.get("escalation_time"),
                                     expected_utterances=len(lab["transcript"]))
                    for cid, lab in zip(call_ids, labels)}

        def on_score(score):
            o = outcomes.get(score.call_id)
            if o is None:
                return
            o.utterances += 1
            o.max_risk = max(o.max_risk, score.risk)
            say(view.score_line(score))

        def on_alert(alert):
            o = outcomes.get(alert.call_id)
            if o is None:
                return
            if alert.alert_type == "escalation_risk":
                o.alerts.append({"alert_id": alert.alert_id, "call_time": alert.call_time})
            else:
                o.prompts += 1
            say(view.alert_line(alert))

        ready = threading.Event()
        follower = threading.Thread(target=follow, args=(settings, on_score, on_alert, stop_follow),
                                    kwargs={"ready": ready}, daemon=True)
        follower.start()
        ready.wait(30)

        call_audio = [load_call([w], call_id=cid) for w, cid in zip(wavs, call_ids)]
        longest = max(c.duration_s for c in call_audio)
        say(view.paint(f"[4/5] replaying {len(call_audio)} calls side by side ({longest:.0f} s at {speed}x)", "bold"))
        producer = make_producer(settings)
        topics = Topics(settings.topic_prefix)
        replay_calls(call_audio, lambda t, k, v, h: producer.send(t, key=k.encode(), value=v, headers=h),
                     topics, speed=speed)
        producer.flush()
        producer.close()
        _wait_for_pipeline(list(outcomes.values()), say)

        say(view.paint("[5/5] summary", "bold"))
        for line in summary_lines(list(outcomes.values()), view):
            say(line)
        return list(outcomes.values())
    finally:
        stop_follow.set()
        if keep_running:
            say(f"left running: Kafka at {settings.bootstrap}"
                + (f", worker pid {worker.proc.pid}" if worker and worker.proc else ""))
        else:
            if worker:
                worker.stop()
            if broker and broker_started_here:
                broker.stop()


def summary_lines(outcomes: list[CallOutcome], view) -> list[str]:
    lines = [f"  {'call':<34} {'expected':<10} {'alerts':>6} {'max risk':>9}  verdict"]
    for o in outcomes:
        verdict = view.paint("ok", "green") if o.correct else view.paint("MISSED" if o.expected == "escalated" else "FALSE ALARM", "red")
        lines.append(f"  {o.call_id:<34} {o.expected:<10} {len(o.alerts):>6} {o.max_risk:>9.2f}  {verdict}")
    right = sum(o.correct for o in outcomes)
    lines.append(f"  {right}/{len(outcomes)} calls handled as expected")
    return lines


def _wait_for_pipeline(outcomes: list[CallOutcome], say, stall_s: float = 20.0, limit_s: float = 300.0) -> None:
    """Wait until every call's scripted turns are scored; the worker may lag the replay.

    Gives up only when nothing new has been scored for ``stall_s`` (a turn the
    segmenter merged with another never arrives on its own) or after ``limit_s``.
    """
    expected = sum(o.expected_utterances for o in outcomes)
    scored = lambda: sum(min(o.utterances, o.expected_utterances) for o in outcomes)  # noqa: E731
    deadline = time.time() + limit_s
    last, since, told = scored(), time.time(), 0.0
    while scored() < expected and time.time() < deadline and time.time() - since < stall_s:
        time.sleep(0.25)
        if scored() != last:
            last, since = scored(), time.time()
        if time.time() - told > 5:
            say(f"      waiting for the pipeline to catch up: {scored()}/{expected} utterances scored")
            told = time.time()
    if scored() < expected:
        say(f"      stopped waiting with {scored()}/{expected} utterances scored (the machine may be overloaded)")
