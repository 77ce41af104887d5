"""``callradar report`` on a month of calls: a generated archive of 100,000 calls, timed.

    nice -n 5 .venv/bin/python bench/insights_report.py [--calls 100000] [--days 30] [--dir /tmp/insights-bench]

Writes a synthetic archive in the labelled-calls Parquet format, the way ``callradar
archive`` lays it out: one part per hour (``calls-<UTC time>-<pid>-<n>.parquet``), each
call with its utterances (text, live scores, a risk that climbs in the calls that
escalate), supervisor alerts and assist prompts, agents' feedback marks, metadata
(queue, agent, customer tier) and escalation cases (``cases``: acknowledged or not,
met or breached, tiers, the verdict); plus ``labels.jsonl`` (outcomes that came
after the call was written) and ``feedback.jsonl`` (marks that came late). Then it
runs ``callradar report --since <days>d`` on it as a user would (a new process, so
start-up and imports count) and prints the wall time and the report's size.

Numbers are drawn from a seeded generator: realistic shapes (about one call in eight
escalates, most of those alerted first, some prompts help more than others), not
real calls.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from callradar.training.labelled_calls import parquet_schema

ROOT = Path(__file__).resolve().parents[1]
QUEUES = ["billing", "tech_support", "cancellations", "sales", "general", "premium_care"]
QUEUE_P = [0.28, 0.27, 0.12, 0.13, 0.15, 0.05]
TIERS = ["standard", "gold", "platinum"]
TRIGGERS = ["supervisor_request", "cancellation", "billing_dispute", "legal_threat", "complaint", "negative_sentiment"]
TRIGGER_P = [0.22, 0.18, 0.24, 0.04, 0.17, 0.15]
PROMPTS = [f"{t}.{p}" for t in TRIGGERS for p in ("acknowledge", "offer_options", "explain")]
TEXTS = [
    "Hello, thanks for calling, how can I help today?", "I was charged twice on my last bill.",
    "Let me pull up your account.", "This is the third time I am calling about this.",
    "I understand, that is frustrating.", "I want to speak to a supervisor.", "Can you cancel my contract?",
    "I can offer you a credit for the difference.", "That is not good enough.", "Thank you, that helps.",
    "My internet keeps dropping every evening.", "Let me run a line test for you.", "I will take this further.",
    "Is there anything else I can help with?", "No, that is all, thanks.", "I have been waiting for an hour.",
]


def _array(values, kind=None) -> pa.Array:
    out = pa.array(values, kind)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def utterance_columns(rng, n_calls: int, escalated: np.ndarray, call_ids: np.ndarray):
    """Per call 8-30 utterances, speakers alternating; risk drifts up in escalating calls."""
    counts = rng.integers(8, 31, n_calls)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int32)
    total = int(offsets[-1])
    call = np.repeat(np.arange(n_calls), counts)
    index = np.arange(total) - offsets[call]
    length = rng.uniform(1.5, 9.0, total)
    gap = rng.uniform(0.2, 1.5, total)
    end = np.cumsum(length + gap)
    end -= np.repeat(end[offsets[:-1]] - length[offsets[:-1]] - gap[offsets[:-1]], counts)
    start = end - length
    progress = index / np.repeat(counts - 1, counts)
    drift = np.where(escalated[call], 0.75 * progress, 0.15 * np.sin(np.pi * progress))
    risk = np.clip(0.12 + drift + rng.normal(0, 0.08, total), 0, 1)
    speaker = np.where(index % 2 == 0, "agent", "customer").astype(object)
    uid = np.char.add(np.char.add(call_ids[call].astype(str), "/"), np.char.add(speaker.astype(str), "/"))
    uid = np.char.add(uid, index.astype(str)).astype(object)
    text = np.array(TEXTS, dtype=object)[rng.integers(0, len(TEXTS), total)]
    struct = pa.StructArray.from_arrays([
        _array(speaker, pa.string()), _array(start), _array(end), _array(text, pa.string()),
        _array(uid, pa.string()), _array(rng.uniform(0.7, 1.0, total)),
        _array(np.where(risk > 0.5, "negative", "neutral").astype(object), pa.string()),
        _array(np.clip(risk + rng.normal(0, 0.05, total), 0, 1)), _array(rng.uniform(0, 1, total)),
        _array(risk), _array(np.full(total, "risk-2025.01", dtype=object), pa.string()),
    ], names=["speaker", "start", "end", "text", "utterance_id", "confidence", "sentiment", "frustration", "intent",
              "risk", "model_version"])
    return pa.ListArray.from_arrays(pa.array(offsets), struct), end[offsets[1:] - 1], (call, end, risk, uid)


def generate(out: Path, n_calls: int, days: int, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    now = time.time()
    hours = days * 24
    hour_of = np.sort(rng.integers(0, hours, n_calls))  # a part per hour, as the archive flushes
    part_start = now - days * 86400 + 60 + hour_of * 3600.0
    started = part_start + rng.uniform(0, 3000, n_calls)
    call_ids = np.array([f"call-{i:07d}" for i in range(n_calls)], dtype=object)
    queue = np.array(QUEUES, dtype=object)[rng.choice(len(QUEUES), n_calls, p=QUEUE_P)]
    agent = np.array([f"agent-{i:03d}" for i in range(160)], dtype=object)[rng.integers(0, 160, n_calls)]
    ctier = np.array(TIERS, dtype=object)[rng.choice(3, n_calls, p=[0.7, 0.22, 0.08])]
    p_esc = np.where(queue == "cancellations", 0.22, 0.11)
    escalated = rng.uniform(size=n_calls) < p_esc
    utterances, call_end, (u_call, u_end, u_risk, u_id) = utterance_columns(rng, n_calls, escalated, call_ids)
    esc_time = np.where(escalated, call_end * rng.uniform(0.7, 0.98, n_calls), np.nan)
    labelled_now = rng.uniform(size=n_calls) < 0.8  # the rest arrive in labels.jsonl, or never
    late_label = ~labelled_now & (rng.uniform(size=n_calls) < 0.75)
    outcome = np.where(escalated, "escalated", "calm").astype(object)

    # alerts: a supervisor alert on most escalating calls (before they escalate) and some calm ones; prompts before
    sup = np.where(escalated, rng.uniform(size=n_calls) < 0.85, rng.uniform(size=n_calls) < 0.09)
    sup_time = np.where(escalated, esc_time - rng.gamma(2.0, 12.0, n_calls) + rng.normal(0, 8, n_calls),
                        call_end * rng.uniform(0.3, 0.9, n_calls))
    sup_time = np.clip(sup_time, 1.0, None)
    trig = np.array(TRIGGERS, dtype=object)[rng.choice(len(TRIGGERS), n_calls, p=TRIGGER_P)]
    prompted = sup | (rng.uniform(size=n_calls) < 0.2)
    prompt_time = np.clip(np.where(sup, sup_time - rng.uniform(2, 20, n_calls), call_end * rng.uniform(0.2, 0.7, n_calls)),
                          0.5, None)
    prompt_id = np.array(PROMPTS, dtype=object)[rng.integers(0, len(PROMPTS), n_calls)]
    alert_rows = [[] for _ in range(n_calls)]
    for i in np.flatnonzero(prompted):
        alert_rows[i].append((f"{call_ids[i]}-p1", "assist_prompt", trig[i], 0.55, float(prompt_time[i]),
                              f"{call_ids[i]}/customer/3"))
    for i in np.flatnonzero(sup):
        alert_rows[i].append((f"{call_ids[i]}-s1", "escalation_risk", trig[i], 0.7, float(sup_time[i]),
                              f"{call_ids[i]}/customer/5"))

    # feedback: about half the prompts are marked; some prompts help more often than others
    helpful_p = {p: 0.35 + 0.5 * ((k * 37) % 11) / 10 for k, p in enumerate(PROMPTS)}
    marked = prompted & (rng.uniform(size=n_calls) < 0.5)
    late_mark = marked & (rng.uniform(size=n_calls) < 0.15)
    helpful = rng.uniform(size=n_calls) < np.array([helpful_p[p] for p in prompt_id])
    mark_ts = started + prompt_time + rng.uniform(2, 60, n_calls)

    # cases: every supervisor alert opens one; acknowledged in (mostly) under two minutes
    sla = np.where(ctier == "platinum", 60.0, 120.0)
    ack_after = rng.gamma(2.0, 35.0, n_calls)
    acked = rng.uniform(size=n_calls) < 0.97
    breached = acked & (ack_after > sla) | ~acked
    handed = np.where(rng.uniform(size=n_calls) < 0.3, rng.integers(2, 4, n_calls), 1)
    verdict = np.where(escalated, np.where(rng.uniform(size=n_calls) < 0.6, "customer_escalated", "resolved"),
                       np.where(rng.uniform(size=n_calls) < 0.8, "false_alarm", "resolved")).astype(object)
    verdict[~acked] = ""

    def struct_list(rows_per_call, fields):
        flat = [r for rows in rows_per_call for r in rows]
        offsets = np.r_[0, np.cumsum([len(r) for r in rows_per_call])].astype(np.int32)
        cols = list(zip(*flat)) if flat else [[] for _ in fields]
        struct = pa.StructArray.from_arrays([pa.array(list(c), t) for c, (_, t) in zip(cols, fields)],
                                            fields=[pa.field(n, t) for n, t in fields])
        return pa.ListArray.from_arrays(pa.array(offsets), struct)

    schema = parquet_schema()
    s, f = pa.string(), pa.float64()
    alerts = struct_list(alert_rows, [("alert_id", s), ("alert_type", s), ("trigger", s), ("risk", f),
                                      ("call_time", f), ("utterance_id", s)])
    fb_fields = [("feedback_id", s), ("alert_id", s), ("prompt_id", s), ("helpful", pa.bool_()), ("agent_id", s),
                 ("trigger", s), ("ts", f), ("utterance_id", s), ("call_time", f), ("snippet_id", s), ("source", s)]
    feedback = struct_list([[(f"{call_ids[i]}-p1/{agent[i]}", f"{call_ids[i]}-p1", prompt_id[i], bool(helpful[i]),
                              agent[i], trig[i], float(mark_ts[i]), f"{call_ids[i]}/customer/3", float(prompt_time[i]),
                              None, "console")] if marked[i] and not late_mark[i] else [] for i in range(n_calls)],
                           fb_fields)
    opened = started + sup_time

    def case(i: int) -> dict:  # training.labelled_calls.CallCase fields
        tier_now = int(handed[i]) + int(breached[i] and handed[i] < 3)
        return {"case_id": f"{call_ids[i]}-s1", "trigger": trig[i], "opened_ts": float(opened[i]),
                "status": "resolved" if verdict[i] else ("acknowledged" if acked[i] else "open"), "version": 4,
                "sla_s": float(sla[i]), "acknowledged_ts": float(opened[i] + ack_after[i]) if acked[i] else None,
                "acknowledged_by": f"sup-{i % 12:02d}" if acked[i] else "",
                "response_s": float(ack_after[i]) if acked[i] else None,
                "response": "breached" if breached[i] else "met", "breaches": int(ack_after[i] > sla[i]),
                "route_type": "hierarchical", "route_team": f"tier{tier_now}", "route_tier": tier_now,
                "handed_over_team": f"tier{handed[i]}" if handed[i] > 1 else "",
                "handed_over_tier": int(handed[i]) if handed[i] > 1 else None, "outcome": verdict[i],
                "resolved_tier": tier_now if verdict[i] else None,
                "resolved_ts": float(opened[i] + 600) if verdict[i] else None, "note": "", "agent_id": agent[i]}

    cases = pa.array([[case(i)] if sup[i] else [] for i in range(n_calls)], schema.field("cases").type)
    meta_keys = ["agent_id", "queue", "customer_tier"]
    metadata = pa.MapArray.from_arrays(pa.array(np.arange(0, 3 * n_calls + 1, 3, dtype=np.int32)),
                                       pa.array(np.tile(np.array(meta_keys, dtype=object), n_calls), s),
                                       pa.array(np.stack([agent, queue, ctier], axis=1).reshape(-1), s))
    table = pa.Table.from_pydict({
        "call_id": pa.array(call_ids, s),
        "outcome": pa.array(np.where(labelled_now, outcome, None), s),
        "escalation_time": pa.array(np.where(labelled_now & escalated, esc_time, np.nan), f, from_pandas=True),
        "utterances": utterances, "alerts": alerts, "metadata": metadata, "source": pa.array(["archive"] * n_calls, s),
        "feedback": feedback, "cases": cases,
    }).select(schema.names).cast(schema)
    bounds = np.r_[0, np.flatnonzero(np.diff(hour_of)) + 1, n_calls]
    for n, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]), 1):
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(part_start[a] + 3500))
        pq.write_table(table.slice(a, b - a), out / f"calls-{stamp}-{os.getpid()}-{n:04d}.parquet", compression="zstd")
    with open(out / "labels.jsonl", "w") as fh:
        for i in np.flatnonzero(late_label):
            fh.write(json.dumps({"v": 1, "kind": "outcome", "call_id": call_ids[i], "outcome": outcome[i],
                                 "escalation_time": float(esc_time[i]) if escalated[i] else None,
                                 "source": "crm", "ts": float(started[i] + 86400)}) + "\n")
    with open(out / "feedback.jsonl", "w") as fh:
        for i in np.flatnonzero(late_mark):
            fh.write(json.dumps({"v": 1, "kind": "feedback", "feedback_id": f"{call_ids[i]}-p1/{agent[i]}",
                                 "call_id": call_ids[i], "alert_id": f"{call_ids[i]}-p1", "prompt_id": prompt_id[i],
                                 "trigger": trig[i], "helpful": bool(helpful[i]), "agent_id": agent[i],
                                 "ts": float(mark_ts[i] + 600), "utterance_id": f"{call_ids[i]}/customer/3",
                                 "call_time": float(prompt_time[i]), "snippet_id": "", "source": "console"}) + "\n")
    return {"calls": n_calls, "parts": len(bounds) - 1, "utterances": len(u_call),
            "supervisor_alerts": int(sup.sum()), "prompts": int(prompted.sum()), "marks": int(marked.sum()),
            "cases": int(sup.sum()), "late_labels": int(late_label.sum()), "late_marks": int(late_mark.sum()),
            "archive_mb": round(sum(p.stat().st_size for p in out.iterdir()) / 1e6, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/insights-bench"))
    ap.add_argument("--keep", action="store_true", help="reuse an archive already generated in --dir")
    args = ap.parse_args()
    archive, report = args.dir / "archive", args.dir / "report"
    if not args.keep or not archive.exists():
        shutil.rmtree(archive, ignore_errors=True)
        t0 = time.perf_counter()
        made = generate(archive, args.calls, args.days)
        print(f"generated in {time.perf_counter() - t0:.1f} s: {json.dumps(made)}", flush=True)
    shutil.rmtree(report, ignore_errors=True)
    cmd = [str(ROOT / ".venv/bin/callradar"), "report", "--since", f"{args.days}d", "--archive", str(archive),
           "--out", str(report)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    print(done.stdout.strip(), done.stderr.strip(), sep="\n")
    if done.returncode:
        return done.returncode
    size = sum(p.stat().st_size for p in report.iterdir()) / 1e6
    print(f"callradar report on {args.calls} calls: {wall:.1f} s wall ({' '.join(cmd[1:])}); report {size:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
