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
