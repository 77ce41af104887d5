"""CallArchive: calls come out whole, once, after they end; the offset book never commits past unwritten calls;
agents' feedback reaches the archive whenever it comes."""

from __future__ import annotations

from types import SimpleNamespace

from callradar.pipeline.records import Alert, CallEvent, Feedback, Score, Utterance
from callradar.training.archive import CallArchive, _OffsetBook
from callradar.training.labelled_calls import Outcome


def utt(call_id, speaker, i, start, end, text):
    return Utterance(f"{call_id}/{speaker}/{i}", call_id, speaker, i, start, end, text, 0.9, 1000.0 + end)


def score(u: Utterance, risk: float) -> Score:
    return Score(u.utterance_id, u.call_id, u.speaker, u.start, u.end, u.text, "negative",
                 {"negative": 0.7, "neutral": 0.2, "positive": 0.1}, 0.4, 0.2, [], risk, [], "prior-2", u.audio_end_ts)


def test_a_call_comes_out_whole_after_the_grace_period():
    a = CallArchive(grace_s=10, idle_s=600)
    a.add_event(CallEvent("c1", "started", 0.0, agent_id="a-1", queue="billing", metadata={"sample_rate": 8000}), 0)
    u0, u1 = utt("c1", "agent", 0, 0.5, 2.0, "Hello"), utt("c1", "customer", 0, 2.5, 5.0, "My bill is wrong")
    a.add_utterance(u0, 1)
    a.add_score(score(u1, 0.3), 2)  # the score may arrive before its transcript is read
    a.add_utterance(u1, 2)
    a.add_score(score(u0, 0.01), 3)
    a.add_alert(Alert("al-1", "escalation_risk", "c1", u1.utterance_id, 0.7, "complaint", [], "!", call_time=5.0), 4)
    a.add_event(CallEvent("c1", "ended", 6.0), 6)
    assert a.finished(now=15) == []  # late transcripts may still come
    a.add_utterance(utt("c1", "customer", 1, 5.5, 6.0, "Bye"), 15)
    (call,) = a.finished(now=16.1)
    assert call.call_id == "c1" and call.outcome is None and call.source == "archive"
    assert [u.utterance_id for u in call.utterances] == ["c1/agent/0", "c1/customer/0", "c1/customer/1"]
    first, second = call.utterances[:2]
    assert (first.risk, first.confidence) == (0.01, 0.9)
    assert (second.sentiment, second.risk, second.model_version) == ("negative", 0.3, "prior-2")
    assert call.alerts[0].alert_id == "al-1" and call.alerts[0].call_time == 5.0
    assert call.metadata == {"agent_id": "a-1", "queue": "billing", "sample_rate": "8000"}
    assert a.pending == []


def test_utterances_are_written_in_call_time_order_whatever_order_their_topics_delivered():
    a = CallArchive(grace_s=0, idle_s=600)
    u0, u1, u2 = (utt("c1", "agent", 0, 0.5, 2.0, "Hello"), utt("c1", "customer", 0, 2.5, 5.0, "My bill"),
                  utt("c1", "agent", 1, 5.5, 7.0, "Let me look"))
    a.add_score(score(u2, 0.2), 1)  # scores and transcripts are different topics: no order between them
    a.add_utterance(u1, 1)
    a.add_score(score(u0, 0.1), 1)
    a.add_utterance(u2, 1)
    a.add_event(CallEvent("c1", "ended", 8.0), 2)
    (call,) = a.finished(now=3)
    assert [u.utterance_id for u in call.utterances] == ["c1/agent/0", "c1/customer/0", "c1/agent/1"]


def test_outcome_attaches_and_redelivery_is_deduplicated():
    a = CallArchive(grace_s=0, idle_s=600)
    u = utt("c2", "customer", 0, 1.0, 3.0, "I want a manager")
    a.add_utterance(u, 1)
    a.add_utterance(u, 2)  # redelivered
    a.add_outcome(Outcome("c2", "escalated", 1.0))
    a.add_outcome(Outcome("nobody", "calm"))  # not pending: labels.jsonl keeps it, the archive ignores it
    a.add_event(CallEvent("c2", "ended", 4.0), 4)
    (call,) = a.finished(now=4)
    assert len(call.utterances) == 1 and (call.outcome, call.escalation_time) == ("escalated", 1.0)


def test_calls_that_never_end_go_out_when_idle_and_silent_calls_not_at_all():
    a = CallArchive(grace_s=5, idle_s=100)
    a.add_utterance(utt("c3", "agent", 0, 0, 1, "Hello?"), 0)
    a.add_event(CallEvent("c4", "started", 0.0), 0)  # nothing is ever said
    assert a.finished(now=50) == []
    assert [c.call_id for c in a.finished(now=101)] == ["c3"]
    assert a.pending == []


def test_late_news_of_a_written_call_is_written_after_the_grace_not_the_idle_timeout():
    a = CallArchive(grace_s=5, idle_s=1000)
    a.add_utterance(utt("c5", "agent", 0, 0, 1, "Hello"), 0)
    a.add_event(CallEvent("c5", "ended", 1.0), 1)
    assert len(a.finished(now=6)) == 1
    a.add_utterance(utt("c5", "customer", 0, 0.5, 1.0, "Hi"), 7)
    assert a.finished(now=11) == []
    (late,) = a.finished(now=12)
    assert [u.text for u in late.utterances] == ["Hi"]  # merged with the first part on read


def test_a_drain_takes_everything():
    a = CallArchive()
    for i in range(3):
        a.add_utterance(utt(f"d{i}", "agent", 0, 0, 1, "x"), 0)
    assert len(a.drain(now=1)) == 3 and a.pending == []


def test_offsets_are_held_back_for_calls_not_yet_written():
    book = _OffsetBook()
    book.hold("a", "tp0", 5)
    book.hold("a", "tp0", 9)
    book.hold("b", "tp0", 7)
    book.hold("b", "tp1", 2)
    assert book.committable("tp0", position=12) == 5
    assert book.committable("tp1", position=4) == 2
    assert book.committable("tp2", position=3) == 3
    book.keep_only(["b"])  # "a" was written
    assert book.committable("tp0", position=12) == 7
    book.keep_only([])
    assert book.committable("tp0", position=12) == 12


def mark(call_id: str, helpful: bool, ts: float) -> Feedback:
    return Feedback("al-p/a-1", call_id, "al-p", "complaint-own-it", "complaint", helpful, "a-1", ts)


def test_feedback_attaches_to_a_call_in_progress_and_the_latest_mark_counts():
    a = CallArchive(grace_s=0, idle_s=600)
    a.add_utterance(utt("c6", "customer", 0, 1.0, 3.0, "This is unacceptable"), 1)
    a.add_feedback(mark("c6", True, 10.0))
    a.add_feedback(mark("c6", False, 12.0))  # changed their mind
    a.add_feedback(mark("c6", True, 10.0))  # the first click redelivered: older, so it does not win
    a.add_feedback(mark("gone", True, 11.0))  # not pending: feedback.jsonl keeps it, the archive ignores it
    a.add_event(CallEvent("c6", "ended", 4.0), 4)
    (call,) = a.finished(now=4)
    assert [(f.feedback_id, f.helpful, f.ts) for f in call.feedback] == [("al-p/a-1", False, 12.0)]
    assert a.pending == []


def writer(tmp_path, **kwargs):
    from callradar.pipeline.records import Topics
    from callradar.training.archive import ArchiveWriter

    refused = []
    w = ArchiveWriter(Topics(""), tmp_path, dead_letter=lambda rec, reason: refused.append((rec, reason)),
                      report=lambda _: None, **kwargs)
    return w, refused


def deliver(w, topic, record, offset, now, partition=0):
    """A record as the Kafka layer's reader hands it over."""
    rec = SimpleNamespace(topic=topic, partition=partition, value=record if isinstance(record, bytes) else record.encode(),
                          offset=offset, key=b"c7", headers=[])
    w.on_record(rec, now)
    return rec


def test_feedback_after_the_call_was_written_lands_in_the_archive(tmp_path):
    from callradar.pipeline.records import Topics
    from callradar.training.labelled_calls import FEEDBACK_FILE, read_archive

    w, _ = writer(tmp_path, grace_s=0, idle_s=600)
    topics = Topics("")
    deliver(w, topics.transcripts, utt("c7", "customer", 0, 1.0, 3.0, "I want a manager"), 0, 1.0)
    deliver(w, topics.feedback, mark("c7", True, 2.0), 0, 2.0)  # during the call: in the part too
    deliver(w, topics.events, CallEvent("c7", "ended", 4.0), 1, 4.0)
    w.on_tick(now=4.0)
    deliver(w, topics.feedback, mark("c7", False, 9.0), 1, 9.0)  # after the call was written
    w.on_tick(now=9.0)
    assert w.written == 1 and w.archive.pending == []  # feedback re-opens no call
    assert len((tmp_path / FEEDBACK_FILE).read_text().splitlines()) == 2
    (call,) = read_archive(tmp_path)
    assert [(f.alert_id, f.helpful) for f in call.feedback] == [("al-p", False)]


def test_the_writer_holds_back_offsets_of_calls_in_progress_per_partition(tmp_path):
    from callradar.pipeline.records import Topics

    w, _ = writer(tmp_path, grace_s=5, idle_s=600)
    topics = Topics("")
    deliver(w, topics.transcripts, utt("c8", "agent", 0, 0.0, 1.0, "Hello"), 3, 1.0, partition=1)
    deliver(w, topics.transcripts, utt("c9", "agent", 0, 0.0, 1.0, "Hi"), 4, 1.0, partition=1)
    deliver(w, topics.events, CallEvent("c8", "ended", 2.0), 7, 2.0, partition=2)
    assert w.committable((topics.transcripts, 1), 10) == 3
    assert w.committable((topics.events, 2), 8) == 7
    assert w.committable((topics.transcripts, 0), 6) == 6  # nothing held there
    w.on_tick(now=8.0)  # c8 ended 6 s ago: written; c9 is still in progress
    assert w.written == 1
    assert w.committable((topics.transcripts, 1), 10) == 4 and w.committable((topics.events, 2), 8) == 8
    w.on_stop()  # on the way out every call is written, so everything may be committed
    assert w.written == 2 and w.committable((topics.transcripts, 1), 10) == 10


def test_an_unreadable_outcome_is_dead_lettered_and_a_bad_transcript_skipped(tmp_path):
    from callradar.pipeline.records import Topics

    w, refused = writer(tmp_path)
    topics = Topics("")
    bad = deliver(w, topics.outcomes, b'{"call_id": "c1", "outcome": "furious"}', 0, 1.0)
    deliver(w, topics.transcripts, b"not json", 0, 1.0)  # the score stage dead-letters these
    assert [rec for rec, _ in refused] == [bad] and "furious" in refused[0][1]
    assert w.archive.pending == [] and w.committable((topics.transcripts, 0), 1) == 1


def test_cases_land_with_their_call_whenever_their_events_come_and_a_case_verdict_is_the_label(tmp_path):
    """Opened and claimed during the call (in the Parquet part), resolved after it was written (cases.jsonl),
    an event redelivered, a malformed one skipped (the case stage dead-letters it): read back whole."""
    from callradar.agents.cases import CaseBook, outcome_for
    from callradar.agents.routing import EscalationMatrix
    from callradar.pipeline.records import Topics
    from callradar.training.labelled_calls import CASES_FILE, read_archive, read_calls

    matrix = EscalationMatrix.load()
    book = CaseBook(matrix)
    alert = Alert("al-c", "escalation_risk", "c10", "c10/customer/0", 0.9, "supervisor_request", [], "!",
                  route=matrix.route("supervisor_request"), call_time=3.0, created_ts=100.0)
    events = [book.open(alert, agent_id="a-1")]
    book.apply(events[-1])
    events.append(book.acknowledge("al-c", "sam", now=130.0))
    book.apply(events[-1])
    events.append(book.hand_over("al-c", "sam", now=140.0, note="billing dispute"))
    book.apply(events[-1])
    events.append(book.acknowledge("al-c", "lee", now=150.0))
    book.apply(events[-1])
    resolved = book.resolve("al-c", "lee", "resolved", now=400.0, note="refunded", tier=3)
    book.apply(resolved)

    w, refused = writer(tmp_path, grace_s=0, idle_s=600)
    topics = Topics("")
    deliver(w, topics.transcripts, utt("c10", "customer", 0, 1.0, 3.0, "Get me a manager"), 0, 1.0)
    for i, event in enumerate(events):
        deliver(w, topics.cases, event, i, 2.0)
    deliver(w, topics.cases, events[1], 9, 2.0)  # redelivered
    deliver(w, topics.cases, b'{"v":1,"type":"case_event","kind":"nonsense"}', 10, 2.0)
    deliver(w, topics.events, CallEvent("c10", "ended", 5.0), 0, 5.0)
    w.on_tick(now=5.0)
    assert w.written == 1 and refused == []
    (part,) = tmp_path.glob("*.parquet")
    (written,) = read_calls(part)
    assert [(c.case_id, c.status, c.acknowledged_by, c.handed_over_team) for c in written.cases] == [
        ("al-c", "acknowledged", "sam", "contact-centre-managers")]

    deliver(w, topics.cases, resolved, 11, 400.0)  # after the call was written
    deliver(w, topics.outcomes, Outcome.from_dict(outcome_for(book.get("al-c"))), 0, 400.0)
    w.on_tick(now=401.0)
    assert w.written == 1 and len((tmp_path / CASES_FILE).read_text().splitlines()) == 6
    (call,) = read_archive(tmp_path)
    (case,) = call.cases
    assert (case.trigger, case.opened_ts, case.sla_s, case.acknowledged_ts, case.response_s, case.response) == (
        "supervisor_request", 100.0, 120.0, 130.0, 30.0, "met")
    assert (case.handed_over_team, case.handed_over_tier, case.route_team, case.route_tier) == (
        "contact-centre-managers", 3, "contact-centre-managers", 3)
    assert (case.status, case.outcome, case.resolved_tier, case.resolved_ts, case.note, case.version) == (
        "resolved", "resolved", 3, 400.0, "refunded", 5)
    assert (call.outcome, call.escalation_time) == ("escalated", 3.0), "the floor's verdict is the label"
    assert read_calls(tmp_path, labelled_only=True)[0].call_id == "c10"


def test_a_breached_case_is_recorded_as_breached_with_its_count():
    from callradar.agents.cases import CaseBook
    from callradar.agents.routing import EscalationMatrix
    from callradar.training.archive import _cases

    matrix = EscalationMatrix.load()
    book = CaseBook(matrix)
    alert = Alert("al-b", "escalation_risk", "c11", "c11/customer/0", 0.8, "supervisor_request", [], "!",
                  route=matrix.route("supervisor_request"), call_time=3.0, created_ts=100.0)
    events = [book.open(alert)]
    book.apply(events[-1])
    (breach,) = book.breaches(now=221.0)
    events.append(breach.event)
    book.apply(breach.event)
    (case,) = _cases(events)
    assert (case.response, case.breaches, case.route_team, case.acknowledged_ts, case.outcome, case.status) == (
        "breached", 1, "contact-centre-managers", None, "", "open")
