"""The run report of ``callradar analyze --report``: figures on small calls with answers worked out by hand."""

from __future__ import annotations

import csv
import os
import random
import re
import stat
from pathlib import Path

import pytest
from PIL import Image

from callradar.pipeline.errors import UserError
from callradar.training.labelled_calls import CallAlert, CallUtterance, LabelledCall
from callradar.training.run_report import (
    NO_OUTCOMES,
    alert_level,
    call_rows,
    run_tables,
    timeline_order,
    write_run_report,
)

SUP, PROMPT = "escalation_risk", "assist_prompt"


def call(cid, outcome, risks, alerts=(), esc=None, speakers=None, text="words") -> LabelledCall:
    """Utterances ending at the given (end, risk) pairs, customer and agent taking turns unless ``speakers`` says;
    alerts as (type, trigger, call_time)."""
    speakers = speakers or ["customer" if i % 2 == 0 else "agent" for i in range(len(risks))]
    return LabelledCall(
        call_id=cid, outcome=outcome, escalation_time=esc,
        utterances=[CallUtterance(s, end - 2, end, f"{text} {i}", utterance_id=f"{cid}/{s}/{i}", sentiment="negative",
                                  frustration=0.3, intent=0.1, risk=r)
                    for i, ((end, r), s) in enumerate(zip(risks, speakers))],
        alerts=[CallAlert(f"{cid}-{k}", kind, trig, 0.7, t) for k, (kind, trig, t) in enumerate(alerts)],
    )


def labelled_calls() -> list[LabelledCall]:
    """3 escalated (2 alerted), 2 calm (1 alerted), 1 not labelled (alerted)."""
    return [
        # escalated at 40, supervisor alert at 30: lead 10 s, before
        call("e1", "escalated", [(10, 0.2), (30, 0.8), (40, 0.9)],
             [(SUP, "supervisor_request", 30.0), (PROMPT, "supervisor_request", 30.0)], esc=40.0),
        # escalated at 20, alert at 25: lead -5 s, after
        call("e2", "escalated", [(20, 0.5), (25, 0.7)], [(SUP, "billing_dispute", 25.0)], esc=20.0),
        # escalated, never alerted: the miss
        call("e3", "escalated", [(10, 0.3), (20, 0.4)], esc=18.0),
        # calm but alerted: the false alarm
        call("c1", "calm", [(10, 0.65), (20, 0.5)], [(SUP, "billing_dispute", 10.0)]),
        call("c2", "calm", [(10, 0.1), (20, 0.2)]),
        call("u1", None, [(10, 0.75)], [(SUP, "complaint", 10.0)]),
    ]


def figure(tables, name: str, what: str):
    t = tables[name]
    return {r[0]: r[1] for r in t.rows}[what]


def test_agreement_figures_match_the_hand_count():
    tables = run_tables(call_rows(labelled_calls()))
    assert tables["alerted_vs_escalated"].rows == [["alerted", 2, 1, 3], ["not alerted", 1, 1, 2], ["total", 3, 2, 5]]
    assert figure(tables, "agreement", "labelled calls") == 5
    assert figure(tables, "agreement", "recall of alerted for escalated") == round(2 / 3, 4)
    assert figure(tables, "agreement", "precision of alerted for escalated") == round(2 / 3, 4)
    assert figure(tables, "agreement", "calm calls alerted") == 0.5
    # lead times 10 and -5: median 2.5, one before, one after
    assert figure(tables, "agreement", "median lead time, s") == 2.5
    assert figure(tables, "agreement", "alerted before the escalation") == 1
    assert figure(tables, "agreement", "alerted at or after the escalation") == 1
    # highest risks: escalated 0.9, 0.7, 0.4; calm 0.65, 0.2: 5 of 6 pairs ranked right
    assert figure(tables, "agreement", "call AUROC of the highest risk") == round(5 / 6, 4)


def test_summary_counts():
    tables = run_tables(call_rows(labelled_calls()))
    assert figure(tables, "summary", "calls") == 6
    assert figure(tables, "summary", "utterances") == 12
    assert figure(tables, "summary", "customer utterances") == 7
    assert figure(tables, "summary", "calls alerted") == 4
    assert figure(tables, "summary", "supervisor alerts") == 4
    assert figure(tables, "summary", "assist prompts") == 1
    assert figure(tables, "summary", "not labelled") == 1
    # no duration_s metadata: each call's last utterance end, 40+25+20+20+20+10 s
    assert figure(tables, "summary", "audio hours") == round(135 / 3600, 2)
    by = {(r[0], r[1]): r[2:] for r in tables["alerts_by_trigger"].rows}
    # billing_dispute: e2 (escalated) and c1 (calm)
    assert by[(SUP, "billing_dispute")] == [2, 2, 1, 1, 0.5]
    assert by[(PROMPT, "supervisor_request")] == [1, 1, 1, 0, 1.0]


def test_duration_metadata_counts_for_audio_hours():
    c = call("d", None, [(10, 0.1)])
    c.metadata["duration_s"] = "3600"
    assert figure(run_tables(call_rows([c])), "summary", "audio hours") == 1.0


def test_threshold_table_counts_calls_per_100_and_recall():
    tables = run_tables(call_rows(labelled_calls()), alert_threshold=0.65)
    rows = {r[0]: r[1:] for r in tables["thresholds"].rows}
    assert 0.65 in rows and "0.65" in tables["thresholds"].note
    # highest risks 0.9 0.7 0.4 | 0.65 0.2 | 0.75: at 0.65, 4 of 6 calls; escalated 2 of 3; calm 1 of 2
    assert rows[0.65] == [round(400 / 6, 1), round(2 / 3, 4), round(2 / 3, 4), 0.5]
    assert rows[0.8] == [round(100 / 6, 1), round(1 / 3, 4), 1.0, 0.0]
    assert rows[0.1] == [100.0, 1.0, 0.6, 1.0]


def test_without_outcomes_the_page_says_so(tmp_path):
    calls = [call(c.call_id, None, [(u.end, u.risk) for u in c.utterances]) for c in labelled_calls()]
    tables = run_tables(call_rows(calls))
    assert set(tables) == {"summary", "alerts_by_trigger"}
    page = write_run_report(calls, tmp_path / "r", "no labels").read_text()
    assert NO_OUTCOMES.split(":")[0] in page and "Calls alerted against calls escalated" not in page
    assert (tmp_path / "r" / "risk_by_outcome.png").exists()


def test_timelines_are_bounded_alerted_and_escalated_first():
    rows = call_rows(labelled_calls() + [call(f"q{i}", "calm", [(10, 0.01 * i)]) for i in range(10)])
    shown, not_shown = timeline_order(rows, max_timelines=7)
    ids = [rows[i].call.call_id for i in shown]
    # the miss, then the false alarm, then the other alerted/escalated calls by highest risk, then the rest
    assert ids == ["e3", "c1", "e1", "u1", "e2", "c2", "q9"]
    assert len(not_shown) == len(rows) - 7 and set(shown).isdisjoint(not_shown)


def test_report_files_images_and_bounded_timelines(tmp_path):
    calls = labelled_calls() + [call(f"q{i}", "calm", [(10, 0.01 * i)]) for i in range(10)]
    index = write_run_report(calls, tmp_path / "out", "run 1", max_timelines=4)
    page = index.read_text(encoding="utf-8")
    sources = re.findall(r"<img src='([^']+)'", page)
    assert len(sources) == 2 + 4
    for src in sources:
        with Image.open(index.parent / src) as im:
            assert im.format == "PNG" and im.size[0] > 300
    assert "4 of 16 calls shown" in page and "12 calls without a timeline" in page
    assert "q0" in page.split("calls without a timeline")[1]  # listed as not shown
    assert sorted(p.name for p in index.parent.iterdir()) == sorted(
        ["index.html", "calls.csv", "risk_by_outcome.png", "alerts_per_call.png"]
        + [f"timeline-{n:03d}.png" for n in range(1, 5)])  # no temporary files left


def test_calls_csv_has_one_row_per_call(tmp_path):
    index = write_run_report(labelled_calls(), tmp_path, "run")
    with open(index.parent / "calls.csv", newline="", encoding="utf-8") as f:
        rows = {r["call_id"]: r for r in csv.DictReader(f)}
    assert len(rows) == 6
    assert rows["e2"]["outcome"] == "escalated" and float(rows["e2"]["highest_risk"]) == 0.7
    assert float(rows["e2"]["first_alert_time"]) == 25.0 and float(rows["e2"]["escalation_time"]) == 20.0
    assert float(rows["e2"]["lead_time_s"]) == -5.0
    assert rows["e3"]["supervisor_alerts"] == "0" and rows["e3"]["first_alert_time"] == ""
    assert rows["u1"]["outcome"] == "" and rows["u1"]["timeline"].startswith("timeline-")


def test_transcript_text_is_escaped(tmp_path):
    evil = "<script>alert('x')</script> & $x^2$"
    calls = [call("<b>id</b>", "escalated", [(5, 0.9)], [(SUP, "<i>trig</i>", 5.0)], esc=6.0, text=evil)]
    page = write_run_report(calls, tmp_path, "<title> & co").read_text()
    assert "<script>" not in page and "<b>id</b>" not in page and "<i>trig</i>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; $x^2$ 0" in page
    assert "<h1>&lt;title&gt; &amp; co</h1>" in page


def test_a_call_with_one_speaker_only_and_a_call_without_scores(tmp_path):
    customer_only = call("solo", "escalated", [(5, 0.3), (9, 0.8)], [(SUP, "complaint", 9.0)], esc=12.0,
                         speakers=["customer", "customer"])
    unscored = LabelledCall("blank", "calm", [CallUtterance("agent", 0.0, 3.0, "hello")])
    index = write_run_report([customer_only, unscored], tmp_path, "edge")
    page = index.read_text()
    assert "timeline-001.png" in page and "timeline-002.png" in page
    assert figure(run_tables(call_rows([customer_only, unscored])), "summary", "calls without risk scores") == 1


def test_a_timeline_keeps_nothing_of_the_call_drawn_before_it(tmp_path):
    """The timelines share one figure; drawing a call after another must give the very same picture."""
    from callradar.training.run_report import _Timelines

    first, second = call_rows([labelled_calls()[0], labelled_calls()[3]])
    _Timelines(0.6).draw(first, tmp_path / "alone.png")
    shared = _Timelines(0.6)
    shared.draw(second, tmp_path / "other.png")
    shared.draw(first, tmp_path / "after.png")
    with Image.open(tmp_path / "alone.png") as alone, Image.open(tmp_path / "after.png") as after, \
            Image.open(tmp_path / "other.png") as other:
        assert alone.tobytes() == after.tobytes()
        assert other.tobytes() != after.tobytes()


def test_no_calls_still_writes_a_page(tmp_path):
    page = write_run_report([], tmp_path, "empty").read_text()
    assert "0 of 0 calls shown" in page


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_is_a_user_error_and_leaves_nothing(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(UserError, match="cannot write the run report there.*--report"):
            write_run_report(labelled_calls(), folder, "run")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(stat.S_IRWXU)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_that_refuses_files_is_a_user_error():
    """/proc/self takes no new files, not even from root (the chmod test above cannot run as root)."""
    with pytest.raises(UserError, match="/proc/self: cannot write the run report there"):
        write_run_report(labelled_calls(), Path("/proc/self"), "run")


def test_a_file_in_the_way_is_a_user_error(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(UserError, match="taken/report: cannot write the run report there"):
        write_run_report(labelled_calls(), tmp_path / "taken" / "report", "run")


def test_a_crash_midway_keeps_the_previous_report_whole(tmp_path, monkeypatch):
    from callradar.training import run_report

    write_run_report(labelled_calls(), tmp_path, "first")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def boom(*args):
        raise RuntimeError("crash while drawing")

    monkeypatch.setattr(run_report._Timelines, "draw", boom)
    with pytest.raises(RuntimeError):
        write_run_report(labelled_calls()[:2], tmp_path, "second")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def generated_calls(n: int, seed: int = 7, utterances: int = 60) -> list[LabelledCall]:
    """Calls shaped like analyze's output, for timing: a quarter escalate, risk climbs in those."""
    rng = random.Random(seed)
    calls = []
    for k in range(n):
        escalated = rng.random() < 0.25
        risks, alerts, t, armed = [], [], 0.0, True
        for i in range(utterances):
            t += rng.uniform(2, 8)
            r = min(1.0, max(0.0, rng.gauss(0.25 + (0.5 * i / utterances if escalated else 0), 0.15)))
            risks.append((round(t, 1), round(r, 3)))
            if armed and r >= 0.6:
                alerts += [(SUP, "complaint", round(t, 1)), (PROMPT, "complaint", round(t, 1))]
                armed = False
            armed = armed or r < 0.4
        esc = round(t * 0.9, 1) if escalated else None
        calls.append(call(f"gen-{k:04d}", "escalated" if escalated else "calm", risks, alerts, esc=esc))
    return calls


def test_many_calls_get_fifty_timelines_by_default(tmp_path):
    index = write_run_report(generated_calls(200, utterances=10), tmp_path, "200 calls")
    assert len(list(tmp_path.glob("timeline-*.png"))) == 50
    assert "50 of 200 calls shown" in index.read_text()


def _customer_call(turns, cid="k1") -> LabelledCall:
    """turns: (speaker, text, risk, intent)."""
    return LabelledCall(call_id=cid, outcome="calm", escalation_time=None, utterances=[
        CallUtterance(s, 2.0 * i, 2.0 * i + 1.5, text, utterance_id=f"{cid}/{i}", intent=intent, risk=risk)
        for i, (s, text, risk, intent) in enumerate(turns)])


def test_the_threshold_table_applies_the_triggers_confirmation():
    """On sentiment alone a crossing must hold over two customer utterances: the agent's 0.9 confirms nothing."""
    turns = [("customer", "my bill looks wrong again", 0.7, 0.1), ("agent", "let me check that for you", 0.9, 0.0),
             ("customer", "it says I owe twice the usual amount", 0.65, 0.1)]
    once, confirmed = call_rows([_customer_call(turns)], 1)[0], call_rows([_customer_call(turns)], 2)[0]
    assert once.alert_level == once.highest_risk == 0.9
    assert confirmed.alert_level == 0.65  # the lower of the two customer utterances in a row
    table = run_tables(call_rows([_customer_call(turns)], 2), alert_threshold=0.7).get("thresholds")
    by_level = {r[0]: r[1] for r in table.rows}
    assert by_level[0.6] == 100.0 and by_level[0.7] == 0.0


def test_a_request_counts_at_once_in_the_threshold_table():
    keyword = [("customer", "I want to speak to a manager right now", 0.8, 0.2)]
    asked = [("customer", "this is not good enough", 0.75, 0.9)]
    assert call_rows([_customer_call(keyword)], 2)[0].alert_level == 0.8
    assert call_rows([_customer_call(asked)], 2)[0].alert_level == 0.75


def test_alert_level_agrees_with_the_live_trigger_at_every_threshold():
    """Random calls through the real Triggers: alerted at least once at t exactly when alert_level >= t."""
    from types import SimpleNamespace

    from callradar.agents.triggers import Triggers
    from callradar.models.keywords import KeywordRules

    rules = KeywordRules.from_yaml()
    texts = ["ok", "um", "my bill is wrong", "I want to cancel my account", "get me your supervisor",
             "this is the third time I have called", "thanks that helps", "still not working"]
    live = {(confirm, t): Triggers(SimpleNamespace(risk_alert_threshold=t, risk_rearm_threshold=t / 2,
                                                   alert_cooldown_s=30.0, alert_confirm_utterances=confirm))
            for confirm in (1, 2, 3) for t in (0.3, 0.5, 0.6, 0.8)}  # per call id state: one each will do
    rng = random.Random(7)
    outcomes = set()
    for n in range(120):
        turns = [(rng.choice(["customer", "customer", "agent"]), rng.choice(texts), round(rng.random(), 2),
                  rng.choice([0.1, 0.3, 0.9])) for _ in range(rng.randint(1, 8))]
        call_ = _customer_call(turns, f"r{n}")
        for (confirm, t), triggers in live.items():
            level = alert_level(call_, confirm, rules)
            said, fired = set(), False
            for u in call_.utterances:
                heard = [h.category for h in rules.match(u.text)]
                said |= set(heard) if u.speaker == "customer" else set()
                reasons = [{"feature": f"kw_{c}", "value": 1.0} for c in sorted(said)]
                fired |= bool(triggers.on_score(call_.call_id, u.utterance_id, u.end, u.risk, reasons, heard,
                                                u.speaker, u.text, retrieve=False, intent=u.intent))
            assert fired == (level is not None and level >= t), (turns, confirm, t, level)
            outcomes.add((confirm, fired))
    assert outcomes == {(c, f) for c in (1, 2, 3) for f in (True, False)}  # both answers came up at every setting
