"""Insights from the archive (callradar report): every table on a small hand-made archive with known answers."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

from callradar.agents.cases import CaseBook
from callradar.pipeline.cli.main import main
from callradar.pipeline.errors import UserError
from callradar.pipeline.records import Feedback
from callradar.training.insights import NO_CASES, insights, parse_since, read_columns, write_report
from callradar.training.labelled_calls import (
    CallAlert,
    CallCase,
    CallFeedback,
    CallUtterance,
    LabelledCall,
    Outcome,
    append_case_events,
    append_feedback,
    append_labels,
    read_archive,
    write_calls,
)

DAY1, DAY2 = "20250110T120000", "20250111T120000"


def ts(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc).timestamp()


def call(cid, queue, agent, outcome, esc, risks, alerts=(), feedback=()) -> LabelledCall:
    """Utterances at the given (end, risk) pairs; alerts as (id, type, trigger, call_time)."""
    return LabelledCall(
        call_id=cid, outcome=outcome, escalation_time=esc, source="archive",
        metadata={"queue": queue, "agent_id": agent, "customer_tier": "gold"},
        utterances=[CallUtterance("customer", end - 1, end, "words", utterance_id=f"{cid}/customer/{i}", risk=r)
                    for i, (end, r) in enumerate(risks)],
        alerts=[CallAlert(a, kind, trig, 0.7, t) for a, kind, trig, t in alerts],
        feedback=[CallFeedback(f"{a}/{agent}", a, prompt, helpful, agent, "", 100.0) for a, prompt, helpful in feedback],
    )


def day1_calls() -> list[LabelledCall]:
    return [
        # escalated at 40; prompt at 10, supervisor alert at 30 (lead 10); risk never falls below 0.4 after the prompt
        call("c1", "billing", "a1", "escalated", 40.0, [(5, 0.2), (10, 0.5), (30, 0.7), (40, 0.8)],
             [("c1-p", "assist_prompt", "billing_dispute", 10.0), ("c1-s", "escalation_risk", "billing_dispute", 30.0)],
             [("c1-p", "billing.explain", True)]),
        # calm; prompt at 15, alert at 20; risk falls to 0.35 at 25: calmed both ways
        call("c2", "billing", "a2", "calm", None, [(5, 0.3), (15, 0.65), (20, 0.7), (25, 0.35)],
             [("c2-p", "assist_prompt", "supervisor_request", 15.0),
              ("c2-s", "escalation_risk", "supervisor_request", 20.0)],
             [("c2-p", "supervisor.calm", False)]),
        # not labelled in the part; labels.jsonl says escalated at 50 (lead 5)
        call("c3", "tech", "a1", None, None, [(45, 0.7), (50, 0.9)],
             [("c3-s", "escalation_risk", "supervisor_request", 45.0)]),
    ]


def day2_calls() -> list[LabelledCall]:
    return [
        # calm; prompt at 8, risk stays at or above 0.4 after it: calmed only because it ended calm
        call("c4", "tech", "a2", "calm", None, [(8, 0.5), (12, 0.45)],
             [("c4-p", "assist_prompt", "complaint", 8.0)], [("c4-p", "complaint.ack", True)]),
        # escalated at 20 before the alert at 25 (lead -5)
        call("c5", "tech", "a1", "escalated", 20.0, [(20, 0.6), (25, 0.7)],
             [("c5-s", "escalation_risk", "billing_dispute", 25.0)]),
        day1_calls()[0],  # c1 again (at-least-once delivery): counted once, on its first day
    ]


CASES = {  # per call id, the cases the archive holds when it has case data
    # a false alarm although the call escalated; acknowledged 200 s after opening (no response_s: from the times)
    "c1": [CallCase("c1-s", "billing_dispute", 1000.0, "resolved", version=5, acknowledged_ts=1200.0,
                    acknowledged_by="sup-1", response="breached", route_tier=3, handed_over_tier=3,
                    outcome="false_alarm")],
    # confirmed although the call ended calm; resolved at tier 2
    "c2": [CallCase("c2-s", "supervisor_request", 2000.0, "resolved", version=3, acknowledged_ts=2030.0,
                    acknowledged_by="sup-2", response_s=30.0, response="met", route_tier=1, outcome="resolved",
                    resolved_tier=2)],
}


def write_part(path, calls, with_cases: bool) -> None:
    for c in calls:
        c.cases = list(CASES.get(c.call_id, [])) if with_cases else []
    write_calls(path, calls)


class ArchiveDir(type(Path())):
    """An archive folder that knows whether it was written with case data."""

    has_cases = False


@pytest.fixture(params=[False, True], ids=["no-cases", "cases"])
def archive(request, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    write_part(folder / f"calls-{DAY1}-1-0001.parquet", day1_calls(), request.param)
    write_part(folder / f"calls-{DAY2}-1-0002.parquet", day2_calls(), request.param)
    append_labels(folder, [Outcome("c3", "escalated", 50.0, "crm", 1.0)])
    # c4's agent changed their mind after the call was written: the later mark counts
    append_feedback(folder, [Feedback("c4-p/a2", "c4", "c4-p", "complaint.ack", "complaint", False, "a2", 200.0)])
    folder = ArchiveDir(folder)
    folder.has_cases = request.param
    return folder


def rows(table) -> dict:
    return {r[0]: r[1:] for r in table.rows}


def test_escalations_per_day_queue_agent(archive):
    t = insights(read_columns(archive))
    # day: calls, alerted, escalated, calm, unlabelled, rate (c1's second copy stays on its first day)
    assert rows(t["escalations_by_day"]) == {"2025-01-10": [3, 3, 2, 1, 0, 0.6667], "2025-01-11": [2, 1, 1, 1, 0, 0.5]}
    assert rows(t["escalations_by_queue"]) == {"tech": [3, 2, 2, 1, 0, 0.6667], "billing": [2, 2, 1, 1, 0, 0.5]}
    assert rows(t["escalations_by_agent"]) == {"a1": [3, 3, 3, 0, 0, 1.0], "a2": [2, 1, 0, 2, 0, 0.0]}
    assert t["escalations_by_agent"].rows[0][0] == "a1"  # most escalations first
    assert rows(t["escalations_by_trigger"])["billing_dispute"][:4] == [2, 2, 2, 1.0]
    assert rows(t["escalations_by_trigger"])["supervisor_request"][:4] == [2, 2, 1, 0.5]
    assert dict(t["summary"].rows)["calls"] == 5


def test_alert_precision_per_trigger(archive):
    t = rows(insights(read_columns(archive))["alert_precision_by_trigger"])
    # columns: alerts_or_cases, confirmed, false_alarm, precision, from_cases, from_outcomes, no_verdict_yet
    if archive.has_cases:  # c1's case was a false alarm although the call escalated; c2's was confirmed though calm
        assert t == {"billing_dispute": [2, 1, 1, 0.5, 1, 1, 0], "supervisor_request": [2, 2, 0, 1.0, 1, 1, 0]}
    else:
        assert t == {"billing_dispute": [2, 2, 0, 1.0, 0, 2, 0], "supervisor_request": [2, 1, 1, 0.5, 0, 2, 0]}


def test_lead_time(archive):
    t = insights(read_columns(archive))
    # (all): c1 10 s, c3 5 s (its label came later), c5 -5 s
    assert rows(t["lead_time"])["(all)"] == [3, 2, 0.6667, 5.0, 0.0, 7.5]
    assert rows(t["lead_time"])["billing_dispute"] == [2, 1, 0.5, 2.5, -1.25, 6.25]
    hist = t["lead_time_histogram"]
    assert sum(hist.column("calls")) == 3 and hist.rows[0][0] == -10.0 and hist.rows[-1][1] == 10.0


def test_response_adherence_and_tiers(archive):
    t = insights(read_columns(archive))
    if not archive.has_cases:
        assert t["response_adherence"].rows == [] and t["response_adherence"].note == NO_CASES
        assert t["escalations_by_tier"].rows == [] and t["escalations_by_tier"].note == NO_CASES
        return
    # c1: acknowledged 200 s after opening (no response_s: from the timestamps), breached; c2: 30 s, met
    assert rows(t["response_adherence"])["(all)"] == [2, 1, 1, 0, 0.5, 115.0, 183.0]
    assert rows(t["response_adherence"])["supervisor_request"] == [1, 1, 0, 0, 1.0, 30.0, 30.0]
    # tier, cases, resolved, customer_escalated, false_alarm, open, breached: c1 handed over to 3, c2 resolved at 2
    assert t["escalations_by_tier"].rows == [[2, 1, 1, 0, 0, 0, 0], [3, 1, 0, 0, 1, 0, 1]]


def test_prompt_helpfulness_latest_mark_counts(archive):
    t = rows(insights(read_columns(archive))["prompt_helpfulness"])
    assert t == {"billing.explain": [1, 1, 0, 1.0], "complaint.ack": [1, 0, 1, 0.0], "supervisor.calm": [1, 0, 1, 0.0]}


def test_calmed_after_prompt(archive):
    t = rows(insights(read_columns(archive), rearm_threshold=0.4)["calmed_after_prompt"])
    # calls_with_prompt, calmed, share, risk fell below re-arm, ended calm
    assert t["(all)"] == [3, 2, 0.6667, 1, 2]
    assert t["billing_dispute"] == [1, 0, 0.0, 0, 0]
    assert t["supervisor_request"] == [1, 1, 1.0, 1, 1]
    assert t["complaint"] == [1, 1, 1.0, 0, 1]
    # a higher re-arm threshold: c4's 0.45 after its prompt now counts as having fallen
    assert rows(insights(read_columns(archive), rearm_threshold=0.5)["calmed_after_prompt"])["(all)"][3] == 2


def test_since_keeps_only_later_calls(archive):
    t = insights(read_columns(archive), since=ts(DAY2) - 3600)
    assert dict(t["summary"].rows)["calls"] == 2
    assert list(rows(t["escalations_by_day"])) == ["2025-01-11"]
    assert rows(t["lead_time"])["(all)"][0] == 1  # c5 only


def test_started_ts_in_metadata_wins_over_the_part_time(tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    c = day1_calls()[0]
    c.metadata["started_ts"] = str(ts(DAY2))
    write_part(folder / f"calls-{DAY1}-1-0001.parquet", [c], False)
    assert list(rows(insights(read_columns(folder))["escalations_by_day"])) == ["2025-01-11"]


def test_objects_give_the_same_tables_as_columns(archive):
    """The console can pass LabelledCall objects (read_archive) and gets the numbers the report shows."""
    from_columns, from_objects = insights(read_columns(archive)), insights(read_archive(archive))
    for name in ("alert_precision_by_trigger", "lead_time", "prompt_helpfulness", "calmed_after_prompt", "follow_up",
                 "escalations_by_queue", "escalations_by_agent", "escalations_by_trigger", "escalations_by_tier",
                 "response_adherence"):
        assert from_objects[name].rows == from_columns[name].rows, name


@pytest.mark.parametrize("text, back_s", [("7d", 7 * 86400), ("24h", 86400), ("30d", 30 * 86400), (" 1D ", 86400)])
def test_since_spans(text, back_s):
    assert parse_since(text, 1_000_000_000.0) == 1_000_000_000.0 - back_s


def test_since_iso_dates():
    now = ts("20250201T000000")
    assert parse_since("2025-01-10", now) == ts("20250110T000000")
    assert parse_since("2025-01-10T12:00:00", now) == ts(DAY1)
    assert parse_since("2025-01-10T13:00:00+01:00", now) == ts(DAY1)


@pytest.mark.parametrize("text, says", [("7w", "expected a span"), ("", "expected a span"), ("yesterday", "expected a span"),
                                        ("0d", "at least 1d"), ("2999-01-01", "in the future"), ("-3d", "expected a span")])
def test_since_refuses(text, says):
    with pytest.raises(UserError, match=says):
        parse_since(text, ts("20250201T000000"))


# ---------------------------------------------------------------- the command


def test_report_end_to_end(archive, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", "--archive", str(archive), "--since", "2025-01-01", "--out", str(out)]) == 0
    assert "5 calls since 2025-01-01" in capsys.readouterr().out
    page = (out / "index.html").read_text()
    charts = sorted(p.name for p in out.glob("*.png"))
    for png in charts:
        with Image.open(out / png) as im:
            im.verify()
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 150
        assert f"src='{png}'" in page
    wanted = {"escalations_by_day.png", "escalations_by_queue.png", "escalations_by_agent.png",
              "escalations_by_trigger.png", "alert_precision_by_trigger.png", "lead_time.png",
              "prompt_helpfulness.png", "calmed_after_prompt.png"}
    if archive.has_cases:
        wanted |= {"response_adherence.png", "escalations_by_tier.png"}
    else:
        assert NO_CASES in page
    assert wanted <= set(charts)
    with open(out / "escalations_by_queue.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table == [["queue", "calls", "alerted_calls", "escalated", "calm", "unlabelled", "escalation_rate"],
                     ["tech", "3", "2", "2", "1", "0", "0.6667"], ["billing", "2", "2", "1", "1", "0", "0.5"]]
    with open(out / "prompt_helpfulness.csv", newline="") as f:
        assert list(csv.DictReader(f))[0] == {"prompt_id": "billing.explain", "marks": "1", "helpful": "1",
                                              "not_helpful": "0", "helpful_share": "1.0"}
    assert {p.name for p in out.glob("*.csv")} >= {"summary.csv", "lead_time.csv", "response_adherence.csv"}


def error_of(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("callradar report: error: ")
    return err


def test_report_refuses_a_bad_since(archive, tmp_path, capsys):
    err = error_of(capsys, ["report", "--archive", str(archive), "--since", "last week", "--out", str(tmp_path / "r")])
    assert "--since 'last week'" in err
    assert not (tmp_path / "r").exists()


def test_report_refuses_a_missing_or_empty_archive(tmp_path, capsys):
    assert "no such archive folder" in error_of(capsys, ["report", "--archive", str(tmp_path / "nope"),
                                                         "--out", str(tmp_path / "r")])
    (tmp_path / "empty").mkdir()
    assert "holds no calls yet" in error_of(capsys, ["report", "--archive", str(tmp_path / "empty"),
                                                     "--out", str(tmp_path / "r")])


def test_report_refuses_a_period_without_calls(archive, tmp_path, capsys):
    err = error_of(capsys, ["report", "--archive", str(archive), "--since", "24h", "--out", str(tmp_path / "r")])
    assert "no calls since 24h" in err and "holds 5" in err


def test_report_refuses_an_output_it_cannot_write(archive, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    err = error_of(capsys, ["report", "--archive", str(archive), "--since", "2025-01-01", "--out", str(blocker / "r")])
    assert "cannot write the report there" in err


def test_cases_from_cases_jsonl_count(tmp_path):
    """A case resolved after its call was written arrives in cases.jsonl: its verdict and response time count."""
    folder = tmp_path / "archive"
    write_part(folder / f"calls-{DAY2}-1-0001.parquet", day2_calls(), False)
    book = CaseBook()
    route = {"type": "hierarchical", "team": "supervisors", "tier": 2, "level": "team_lead", "sla_s": 120}
    events = [book.open({"alert_id": "c5-s", "alert_type": "escalation_risk", "call_id": "c5", "utterance_id": "c5/customer/1",
                         "risk": 0.7, "trigger": "billing_dispute", "call_time": 25.0, "route": route}, now=5000.0)]
    book.apply(events[-1])
    events.append(book.acknowledge("c5-s", "sup-3", now=5050.0))
    book.apply(events[-1])
    events.append(book.resolve("c5-s", "sup-3", "false_alarm", now=5100.0))
    append_case_events(folder, events)
    t = insights(read_columns(folder))
    assert rows(t["alert_precision_by_trigger"])["billing_dispute"] == [2, 1, 1, 0.5, 1, 1, 0]
    assert rows(t["response_adherence"])["(all)"] == [1, 1, 0, 0, 1.0, 50.0, 50.0]
    assert t["escalations_by_tier"].rows == [[2, 1, 0, 0, 1, 0, 0]]


def test_report_reads_jsonl_parts_too(tmp_path):
    folder = tmp_path / "archive"
    write_calls(folder / f"calls-{DAY1}-1-0001.jsonl", day1_calls())
    t = insights(read_columns(folder))
    assert rows(t["escalations_by_day"]) == {"2025-01-10": [3, 3, 1, 1, 1, 0.5]}
    assert json.loads(json.dumps([tb.to_dict() for tb in t.values()]))  # plain JSON for the console


def test_follow_up_lists_calls_that_ended_at_risk_without_an_alert(archive):
    """c4 had a prompt but no supervisor alert and ended at 0.45; every other call paged a supervisor."""
    t = insights(read_columns(archive))["follow_up"]
    assert t.columns == ["call_id", "queue", "agent_id", "risk_at_end", "highest_risk", "outcome"]
    assert t.rows == [["c4", "tech", "a2", 0.45, 0.5, "calm"]]
    assert insights(read_columns(archive), follow_up_risk=0.5)["follow_up"].rows == []
    assert insights(read_columns(archive), rearm_threshold=0.5)["follow_up"].rows == t.rows  # its own setting


def test_follow_up_reads_the_last_utterance_and_ranks_by_it():
    """The risk at the end is the reading after the utterance that ended last, whatever order they are stored in."""
    calls = [call("late-peak", "q", "a", None, None, [(30, 0.9), (10, 0.2), (20, 0.5)]),
             call("ends-high", "q", "a", None, None, [(5, 0.3), (9, 0.95)]),
             call("peaked-early", "q", "a", None, None, [(5, 0.99), (9, 0.1)]),
             call("paged", "q", "a", None, None, [(5, 0.99)], [("p-s", "escalation_risk", "complaint", 5.0)])]
    t = insights(calls)["follow_up"]
    assert [(r[0], r[3], r[4], r[5]) for r in t.rows] == [("ends-high", 0.95, 0.95, "not labelled"),
                                                          ("late-peak", 0.9, 0.9, "not labelled")]


def test_follow_up_csv_holds_every_call_the_page_shows_the_first_50(tmp_path):
    """A floor calls back from the CSV: it must hold the whole list, not the page's first rows."""
    calls = [call(f"c{i:03d}", "q", "a", None, None, [(5, 0.4 + i / 1000)]) for i in range(60)]
    t = insights(calls)
    assert len(t["follow_up"].rows) == 60 and t["follow_up"].rows[0][0] == "c059"
    assert t["follow_up"].note.startswith("60 calls")
    write_report(t, tmp_path)
    with (tmp_path / "follow_up.csv").open() as f:
        assert len(list(csv.reader(f))) == 61
    page = (tmp_path / "index.html").read_text()
    assert "50 of 60 rows; all in <a href='follow_up.csv'>" in page and "c009" not in page


def test_follow_up_risk_is_a_setting_the_report_reads(archive, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CALLRADAR_FOLLOW_UP_RISK", "0.5")
    out = tmp_path / "report"
    assert main(["report", "--archive", str(archive), "--since", "2025-01-01", "--out", str(out)]) == 0
    with (out / "follow_up.csv").open() as f:
        assert len(list(csv.reader(f))) == 1  # the header: c4 ended at 0.45
    monkeypatch.setenv("CALLRADAR_FOLLOW_UP_RISK", "1.5")
    assert main(["report", "--archive", str(archive), "--since", "2025-01-01", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "CALLRADAR_FOLLOW_UP_RISK=1.5: must be a risk between 0 and 1" in err and "Traceback" not in err
