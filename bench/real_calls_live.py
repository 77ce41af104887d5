"""The two real calm calls through the live pipeline: how many supervisor alerts do they raise?

    .venv/bin/python bench/real_calls_live.py                   # speed 2, 100 ms chunks, one worker
    .venv/bin/python bench/real_calls_live.py --speed 1 --chunk-ms 40

What `callradar replay --pair X_agent.wav X_caller.wav --speed 2 --chunk-ms 100` does against
a worker running all stages, on a private embedded broker (bench/live_run.py, as the
end-to-end tests do). Both calls (../shared/data/audio/calls, a booked repair and a reset
warning light) are calm: the right number of supervisor alerts is 0. Writes JSON with every
alert (trigger, risk, reasons, the utterance it came on) and the highest risk per call.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.live_latency import REAL_CALLS, REAL_CALLS_DIR, start_broker  # noqa: E402
from bench.live_run import run_live  # noqa: E402
from callradar.pipeline.settings import load_settings  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=2.0, help="replay speed (default 2)")
    parser.add_argument("--chunk-ms", type=int, default=100, help="chunk length, 20-100 ms (default 100)")
    parser.add_argument("--calls-dir", type=Path, default=REAL_CALLS_DIR, help=f"default {REAL_CALLS_DIR}")
    parser.add_argument("--out", type=Path, default=Path("bench/results/real_calls_live.json"))
    args = parser.parse_args(argv)
    missing = [n for n in REAL_CALLS if not (args.calls_dir / f"{n}_agent.wav").exists()]
    if missing:
        parser.error(f"{args.calls_dir}: the recorded calls {missing} are not there (see ../shared/data/README.md)")

    import dataclasses

    from callradar.pipeline.kafka.clients import ensure_topics
    from callradar.pipeline.recordings import find_recordings, load_recording

    recordings, problems = find_recordings([str(args.calls_dir / f"{n}_{side}.wav")
                                            for n in REAL_CALLS for side in ("agent", "caller")])
    if problems:
        parser.error("; ".join(str(p) for p in problems))
    calls = [load_recording(r) for r in recordings]
    base = load_settings()
    settings, broker, home = start_broker(base)
    try:
        settings = dataclasses.replace(settings, topic_prefix=f"realcalls{int(time.time())}-")
        ensure_topics(settings)
        run = run_live(settings, calls, base.state_dir / "logs" / "bench-real-calls-worker.log", speed=args.speed,
                       chunk_ms=args.chunk_ms, settle_s=10.0)
    finally:
        if broker:
            broker.stop()
            shutil.rmtree(home, ignore_errors=True)
    texts = {u.utterance_id: (u.speaker, u.text) for _, u in run.utterances()}
    highest: dict[str, float] = {}
    for _, s in run.scores():
        highest[s.call_id] = max(highest.get(s.call_id, 0.0), s.risk)
    alerts = [{"call_id": a.call_id, "type": a.alert_type, "trigger": a.trigger, "risk": round(a.risk, 3),
               "route": getattr(a, "route", None), "utterance": texts.get(a.utterance_id, ("", ""))[1],
               "message": a.message}
              for _, a in run.alerts()]
    per_call = {c.call_id: {"supervisor_alerts": sum(1 for a in alerts if a["call_id"] == c.call_id
                                                      and a["type"] == "escalation_risk"),
                            "assist_prompts": sum(1 for a in alerts if a["call_id"] == c.call_id
                                                  and a["type"] == "assist_prompt"),
                            "utterances": sum(1 for u in texts if u.startswith(c.call_id + "/")),
                            "highest_risk": round(highest.get(c.call_id, 0.0), 3)} for c in calls}
    doc = {"command": " ".join(["bench/real_calls_live.py", *(argv if argv is not None else sys.argv[1:])]),
           "speed": args.speed, "chunk_ms": args.chunk_ms, "model_version": next(
               (s.model_version for _, s in run.scores()), None), "dead_letters": len(run.dead_letters()),
           "calls": per_call, "alerts": alerts, "load_avg": [round(x, 2) for x in os.getloadavg()]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    for call_id, row in per_call.items():
        print(f"{call_id}: {row['supervisor_alerts']} supervisor alert(s), {row['assist_prompts']} assist prompt(s), "
              f"{row['utterances']} utterances, highest risk {row['highest_risk']}")
    for a in alerts:
        if a["type"] == "escalation_risk":
            print(f"  alert on {a['call_id']}: {a['trigger']} risk {a['risk']} on {a['utterance']!r}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
