"""Crash recovery logic without Kafka: held acks, channel progress, state snapshots, redelivery."""

import dataclasses
import json
import time

import numpy as np
import pytest
from test_transcribe_stage import chunks, silence, voiced

from callradar.models.call_features import CallState
from callradar.models.types import ScoredUtterance, TextScores
from callradar.pipeline.kafka.acks import HeldChunks, InOrderAcks
from callradar.pipeline.records import MalformedMessage
from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.dedup import SeenIds
from callradar.pipeline.stages.transcribe import TranscribeProcessor

SETTINGS = load_settings(environ={})
CALL = np.concatenate([silence(0.5), voiced(1.5), silence(1.0), voiced(1.2), silence(1.0), voiced(1.0), silence(1.0)])


def run(proc, all_chunks, sent=True):
    """Feed chunks; 'send' every utterance at once, as the app does after the model."""
    out = []
    for c in all_chunks:
        for utt in proc.on_chunk(c, now=c.capture_ts):
            out.append(utt)
            if sent:
                proc.sent(utt)
    return out


def test_a_restart_from_any_chunk_after_saved_progress_gives_the_same_utterances():
    all_chunks = list(chunks("c1", "customer", CALL))
    whole = run(TranscribeProcessor(SETTINGS), all_chunks)
    assert len(whole) == 3

    progress: dict = {}
    before = TranscribeProcessor(SETTINGS, progress=progress)
    first = run(before, all_chunks[:90])  # 3.6 s: the first utterance sent, the second one open
    assert [u.index for u in first] == [0]
    saved = json.loads(json.dumps(progress))  # what the changelog keeps

    # The crash: Kafka redelivers from an earlier committed offset; a fresh processor reads the saved progress.
    after = TranscribeProcessor(SETTINGS, progress=saved)
    redelivered_from = 20
    rest = run(after, all_chunks[redelivered_from:])
    assert after.replayed == first[0].progress["seq"] - redelivered_from + 1  # skipped: already transcribed
    assert [u.utterance_id for u in first + rest] == [u.utterance_id for u in whole]
    for got, want in zip(first + rest, whole):
        assert got.start == pytest.approx(want.start, abs=0.05) and got.end == pytest.approx(want.end, abs=0.05)


def test_silence_committed_before_a_restart_is_stood_in_quietly_and_a_later_gap_still_warns(caplog):
    """The saved progress covers the last utterance sent; the silence after it was committed and is not
    read again. A restart there is not a loss (same utterances); a gap later in the stream is one."""
    all_chunks = list(chunks("c1", "customer", CALL))
    whole = run(TranscribeProcessor(SETTINGS), all_chunks)
    progress: dict = {}
    first = run(TranscribeProcessor(SETTINGS, progress=progress), all_chunks[:90])
    resume_from = first[0].progress["seq"] + 5  # in the silence after utterance 0, never read again
    after = TranscribeProcessor(SETTINGS, progress=json.loads(json.dumps(progress)))
    with caplog.at_level("INFO", logger="callradar.pipeline.stages.transcribe"):
        rest = run(after, all_chunks[resume_from:150] + all_chunks[152:])
    assert [u.utterance_id for u in first + rest] == [u.utterance_id for u in whole]
    levels = [(r.levelname, r.getMessage()) for r in caplog.records if "chunk(s)" in r.getMessage()]
    assert levels == [("INFO", f"c1/customer: resumed at seq {resume_from}, 4 chunk(s) of silence after the saved progress"),
                      ("WARNING", "c1/customer: 2 chunk(s) missing before seq 152")]


def test_an_ended_channel_is_skipped_when_redelivered():
    progress: dict = {}
    proc = TranscribeProcessor(SETTINGS, progress=progress)
    all_chunks = list(chunks("c1", "agent", silence(1.0)))
    run(proc, all_chunks)
    assert proc.end_channel("c1", "agent") == []
    assert progress["c1"]["agent"]["ended"] is True
    again = TranscribeProcessor(SETTINGS, progress=progress)
    assert run(again, all_chunks) == [] and again.end_channel("c1", "agent") == []
    assert again.replayed == len(all_chunks) + 1 and not again.tracks


def test_a_channel_is_settled_only_with_no_open_speech_and_nothing_in_flight():
    proc = TranscribeProcessor(SETTINGS)
    all_chunks = list(chunks("c1", "customer", CALL))
    run(proc, all_chunks[:10], sent=False)  # 0.4 s of silence
    assert proc.settled("c1", "customer")
    run(proc, all_chunks[10:30], sent=False)  # speech open
    assert not proc.settled("c1", "customer")
    pending = run(proc, all_chunks[30:85], sent=False)  # the first utterance ended, not yet sent; the next open
    assert len(pending) == 1 and not proc.settled("c1", "customer")
    proc.sent(pending[0])
    assert not proc.settled("c1", "customer")  # the second utterance is open
    run(proc, all_chunks[85:], sent=True)
    assert proc.settled("c1", "customer")


def test_held_chunks_are_acked_in_order_and_only_when_released():
    acked = []
    held = HeldChunks()
    for seq in range(5):
        held.hold(("c1", "agent"), seq, lambda seq=seq: acked.append(seq))
    held.hold(("c2", "agent"), 0, lambda: acked.append("c2"))
    held.release_through(("c1", "agent"), 2)
    assert acked == [0, 1, 2] and len(held) == 3
    held.release_all(("c1", "agent"))
    assert acked == [0, 1, 2, 3, 4] and len(held) == 1
    held.release_all(("nobody", "agent"))
    assert len(held) == 1


def test_messages_released_out_of_order_are_acked_in_read_order_per_partition():
    # Two channels share partition 0: the agent's chunks (offsets 0, 2) settle while the
    # customer's (1, 3) are held. Faust would commit past offset 1 if 2 were acked first.
    acked = []
    acks = InOrderAcks()
    release = {off: acks.read(0, lambda off=off: acked.append((0, off))) for off in range(4)}
    other = acks.read(1, lambda: acked.append((1, 0)))
    release[2]()
    release[0]()
    assert acked == [(0, 0)]  # 2 waits for 1
    other()
    assert acked == [(0, 0), (1, 0)]  # partitions are independent
    release[3]()
    release[1]()
    assert acked == [(0, 0), (1, 0), (0, 1), (0, 2), (0, 3)] and len(acks) == 0


def test_a_revoked_partition_acks_nothing_more_and_its_channels_start_again_from_saved_progress():
    acked = []
    acks = InOrderAcks()
    held_release = acks.read(0, lambda: acked.append("old"))
    acks.forget(0)
    held_release()  # its utterance was sent after the rebalance: the old message is not acked
    assert acked == [] and len(acks) == 0
    acks.read(0, lambda: acked.append("new"))()
    assert acked == ["new"]

    all_chunks = list(chunks("c1", "customer", CALL))
    progress: dict = {}
    proc = TranscribeProcessor(SETTINGS, progress=progress)
    first = [u for c in all_chunks[:90] for u in proc.on_chunk(c, now=c.capture_ts, source=0)]
    for utt in first:
        proc.sent(utt)
    assert proc.forget_source(1) == [] and proc.live_calls == 1
    assert proc.forget_source(0) == [("c1", "customer")] and proc.live_calls == 0
    # Kafka sends the partition again from the committed offset (before the open utterance):
    again = [u for c in all_chunks[60:] for u in proc.on_chunk(c, now=c.capture_ts, source=0)]
    whole = run(TranscribeProcessor(SETTINGS), all_chunks)
    assert [u.utterance_id for u in first + again] == [u.utterance_id for u in whole]
    for got, want in zip(first + again, whole):  # the segmenter restarts on a chunk edge: within a few ms
        assert got.start == pytest.approx(want.start, abs=0.05) and got.end == pytest.approx(want.end, abs=0.05)


def test_call_state_survives_a_json_round_trip():
    state = CallState()
    ts = TextScores("negative", {"negative": 0.8, "neutral": 0.15, "positive": 0.05}, 0.7, 0.6)
    for i in range(8):
        state.add(ScoredUtterance("customer" if i % 2 else "agent", 3.0 * i, 3.0 * i + 2.5, "text", ts))
    restored = CallState.restore(json.loads(json.dumps(state.snapshot())))
    assert restored.features() == state.features()
    nxt = ScoredUtterance("customer", 30.0, 33.0, "more", ts)
    state.add(nxt)
    restored.add(nxt)
    assert restored.features() == state.features()


def test_a_snapshot_from_another_version_is_refused():
    with pytest.raises(ValueError, match="unknown fields"):
        CallState.restore({**CallState().snapshot(), "_not_a_field": 1})


def test_seen_ids_skip_repeats_and_survive_a_restore():
    seen = SeenIds(keep=3)
    assert seen.first_time("c1", "u0") and not seen.first_time("c1", "u0")
    again = SeenIds(keep=3)
    again.restore("c1", seen.of("c1"))
    assert not again.first_time("c1", "u0") and again.duplicates == 1
    for i in range(1, 5):
        assert again.first_time("c1", f"u{i}")
    assert again.first_time("c1", "u0")  # bounded: the oldest ids are let go


def _score(call_id: str, i: int, risk: float, keywords=()):
    from callradar.pipeline.records import Score

    return Score(utterance_id=f"{call_id}/customer/{i}", call_id=call_id, speaker="customer", start=3.0 * i,
                 end=3.0 * i + 2.0, text=f"utterance {i}", sentiment="negative",
                 sentiment_scores={"negative": 0.8, "neutral": 0.1, "positive": 0.1}, frustration=0.5, intent=0.5,
                 keywords=list(keywords), risk=risk, reasons=[], model_version="test", audio_end_ts=0.0,
                 scored_ts=0.0)


def test_trigger_state_restored_from_a_snapshot_neither_repeats_nor_forgets_alerts():
    from callradar.agents.triggers import Triggers
    from callradar.pipeline.stages.trigger import TriggerProcessor

    supervisor = [{"category": "supervisor_request", "term": "supervisor", "score": 1.0}]
    scores = [_score("c1", 0, 0.2), _score("c1", 1, 0.95, supervisor), _score("c1", 2, 0.96, supervisor),
              _score("c1", 3, 0.1), _score("c1", 4, 0.1)]
    uncrashed = TriggerProcessor(Triggers(SETTINGS))
    want = [a.alert_id for s in scores for a in uncrashed.on_score(s)]
    assert len(want) == 2  # one supervisor alert and its prompt; the repeat at 0.96 is held back

    before = TriggerProcessor(Triggers(SETTINGS))
    got = [a.alert_id for s in scores[:2] for a in before.on_score(s)]
    saved = json.loads(json.dumps(before.snapshot("c1")))
    after = TriggerProcessor(Triggers(SETTINGS))
    after.restore("c1", saved)
    got += [a.alert_id for s in scores[1:] for a in after.on_score(s)]  # score 1 redelivered
    assert got == want and after.seen.duplicates == 1


def test_idle_channels_are_found_by_capture_time_so_a_backlog_closes_nothing():
    proc = TranscribeProcessor(SETTINGS)
    behind = 200.0  # the worker reads chunks 200 s after capture (overloaded, catching up)
    for call in ("c1", "c2"):
        for c in chunks(call, "customer", silence(1.0), t0=1000.0):
            proc.on_chunk(c, now=c.capture_ts + behind)
    # A 50 s pause in reading, far behind: no channel has been idle for 60 s of the calls' own time.
    assert proc.evict_idle(now=1001.0 + behind + 50) == [] and len(proc.tracks) == 2
    # Reading goes on for c2 only: once c2's audio is 60 s past c1's last chunk, c1 is closed.
    for c in chunks("c2", "customer", silence(proc.idle_timeout_s + 1.0), t0=1001.0 - 25 * 0.04, first_seq=25):
        proc.on_chunk(c, now=c.capture_ts + behind)
    proc.evict_idle(now=1001.0 + proc.idle_timeout_s + 1.0 + behind)
    assert list(proc.tracks) == [("c2", "customer")] and proc.timed_out == 1


def test_late_scores_get_their_alert_without_assist_retrieval():
    from callradar.agents.triggers import Triggers
    from callradar.pipeline.stages.trigger import TriggerProcessor

    class CountingAssist:
        def __init__(self, real):
            self.real, self.retrievals = real, 0

        def __getattr__(self, name):
            return getattr(self.real, name)

        def suggest(self, call_id, category, now, retrieve=True):
            self.retrievals += retrieve
            return self.real.suggest(call_id, category, now, retrieve=retrieve)

    supervisor = [{"category": "supervisor_request", "term": "supervisor", "score": 1.0}]
    triggers = Triggers(SETTINGS)
    triggers.assist = CountingAssist(triggers.assist)
    proc = TriggerProcessor(triggers, shed_assist_after_s=3.0)
    on_time = dataclasses.replace(_score("c1", 1, 0.95, supervisor), audio_end_ts=time.time() - 0.5)
    late = dataclasses.replace(_score("c2", 1, 0.95, supervisor), audio_end_ts=time.time() - 10.0)
    assert len(proc.on_score(on_time)) == 2 and triggers.assist.retrievals == 1 and proc.shed == 0
    alerts = proc.on_score(late)
    assert [a.alert_type for a in alerts] == ["escalation_risk", "assist_prompt"]  # the alert is never shed
    assert triggers.assist.retrievals == 1 and proc.shed == 1


def test_a_partition_read_ahead_of_another_closes_nothing_on_the_other():
    """A backlog is read unevenly across partitions: partition 0 can be minutes ahead of 1.
    Only a channel's own partition says its audio stopped (this closed live channels and
    dead-lettered the rest of their audio in a 40-call overload run)."""
    proc = TranscribeProcessor(SETTINGS)
    for c in chunks("slow", "customer", silence(1.0), t0=1000.0):
        proc.on_chunk(c, now=2000.0, source=1)
    for c in chunks("fast", "customer", silence(proc.idle_timeout_s + 30.0), t0=1000.0):
        proc.on_chunk(c, now=2000.0, source=0)
    assert proc.evict_idle(now=2001.0) == [] and len(proc.tracks) == 2 and proc.timed_out == 0
    # Partition 1 moves on past the timeout without "slow": now it is idle.
    for c in chunks("other", "customer", silence(proc.idle_timeout_s + 2.0), t0=1000.0):
        proc.on_chunk(c, now=2002.0, source=1)
    proc.evict_idle(now=2003.0)
    assert ("slow", "customer") not in proc.tracks and proc.timed_out == 1


def test_a_re_read_after_a_seek_is_skipped_and_a_producer_duplicate_still_refused():
    """The consumer may go back to the committed offset while the channel is still open here
    (a seek after a rebalance): chunks at offsets already read are skipped, not dead-lettered."""
    proc = TranscribeProcessor(SETTINGS)
    all_chunks = list(chunks("c1", "customer", CALL))
    first = [u for i, c in enumerate(all_chunks[:90]) for u in proc.on_chunk(c, now=c.capture_ts, source=0,
                                                                               position=1000 + i)]
    again = [u for i, c in enumerate(all_chunks[60:90], start=60)
             for u in proc.on_chunk(c, now=c.capture_ts, source=0, position=1000 + i)]
    assert again == [] and proc.replayed == 30
    rest = [u for i, c in enumerate(all_chunks[90:], start=90)
            for u in proc.on_chunk(c, now=c.capture_ts, source=0, position=1000 + i)]
    whole = run(TranscribeProcessor(SETTINGS), all_chunks, sent=False)
    assert [u.utterance_id for u in first + rest] == [u.utterance_id for u in whole]
    # The same chunk at a new offset was sent twice by the producer: refused, with the reason.
    with pytest.raises(MalformedMessage, match="already seen"):
        proc.on_chunk(all_chunks[95], now=0.0, source=0, position=5000)
    # After the channel ended, a re-read of its chunks is skipped; a new chunk is refused.
    proc.end_channel("c1", "customer")
    assert proc.on_chunk(all_chunks[100], now=0.0, source=0, position=1100) == []
    with pytest.raises(MalformedMessage, match="after its channel ended"):
        proc.on_chunk(all_chunks[100], now=0.0, source=0, position=5001)
