"""pipeline/metrics.py: bounded dead-letter labels, hop latencies, lag, and the exposition text."""

from __future__ import annotations

from collections import namedtuple
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from callradar.pipeline.kafka.lag import faust_consumer_lag
from callradar.pipeline.metrics import (
    DEAD_LETTER_CATEGORIES,
    DEAD_LETTER_OTHER,
    HOPS,
    PipelineMetrics,
    PrometheusMetrics,
    reason_category,
)
from callradar.pipeline.records import AudioChunk, MalformedMessage, Score, Utterance, decode_audio_message
from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.transcribe import TranscribeProcessor

TP = namedtuple("TP", "topic partition")  # the shape of Faust's TP


def samples(metrics: PrometheusMetrics) -> dict[tuple[str, tuple], float]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _refusal(fn) -> str:
    with pytest.raises(MalformedMessage) as err:
        fn()
    return str(err.value)


def _real_reasons() -> dict[str, str]:
    """Reasons as the decoders and the transcribe stage really word them, with the category each must get."""
    good = AudioChunk("c1", "agent", 0, 8000, 1.0, b"\x00\x00" * 160)
    h = good.headers()
    with_header = lambda name, value: [(k, value if k == name else v) for k, v in h]
    stage = TranscribeProcessor(load_settings())
    stage.on_chunk(good, 1.0)
    stage.end_channel("c1", "customer")
    return {
        _refusal(lambda: decode_audio_message(b"c1", good.pcm, None)): "missing_header",
        _refusal(lambda: decode_audio_message(b"c1", good.pcm, [(k, v) for k, v in h if k != "seq"])): "missing_header",
        _refusal(lambda: decode_audio_message(b"c1", good.pcm, with_header("channel", b"boss"))): "bad_channel",
        _refusal(lambda: decode_audio_message(b"zz", good.pcm, h)): "key_mismatch",
        _refusal(lambda: decode_audio_message(b"c1", good.pcm, with_header("sample_rate", b"11025"))): "bad_audio_format",
        _refusal(lambda: decode_audio_message(b"c1", good.pcm, with_header("encoding", b"mulaw"))): "bad_audio_format",
        _refusal(lambda: decode_audio_message(b"c1", b"\x00\x01\x02", h)): "bad_pcm",
        _refusal(lambda: decode_audio_message(b"c1", b"", h)): "bad_pcm",
        _refusal(lambda: decode_audio_message(b"c1", good.pcm, with_header("seq", b"x"))): "bad_header",
        _refusal(lambda: decode_audio_message(b"c1", good.pcm, with_header("seq", b"-1"))): "bad_header",
        _refusal(lambda: decode_audio_message(b"c1", good.pcm, with_header("capture_ts", b"nan"))): "bad_header",
        _refusal(lambda: stage.on_chunk(good, 2.0)): "out_of_order",
        _refusal(lambda: stage.on_chunk(AudioChunk("c1", "customer", 0, 8000, 1.0, good.pcm), 2.0)): "after_end",
        _refusal(lambda: Utterance.decode(b"{not json")): "bad_json",
        _refusal(lambda: Utterance.decode(b"[1]")): "bad_json",
        _refusal(lambda: Utterance.decode(b'{"start": NaN}')): "bad_json",
        _refusal(lambda: Utterance.decode(None)): "empty",
        _refusal(lambda: Utterance.decode(b'{"v": 9}')): "bad_version",
        _refusal(lambda: Utterance.decode(b'{"call_id": "c1"}')): "missing_field",
        _refusal(lambda: Score.decode(b'{"utterance_id":"u","call_id":"c","speaker":"agent","start":0,"end":1,'
                                      b'"text":"","sentiment":"neutral","sentiment_scores":{},"frustration":0,'
                                      b'"intent":0,"keywords":[],"risk":7,"reasons":[],"model_version":"m",'
                                      b'"audio_end_ts":1}')): "invalid_field",
    }


def test_every_real_refusal_gets_its_own_short_category():
    for reason, expected in _real_reasons().items():
        assert reason_category(reason) == expected, reason


def test_unknown_reasons_fall_into_one_bucket():
    assert reason_category("something nobody planned for") == DEAD_LETTER_OTHER


def test_hops_are_measured_from_the_record_timestamps():
    m = PrometheusMetrics(clock=lambda: 100.0)
    utt = SimpleNamespace(speaker="customer", audio_end_ts=99.2, emitted_ts=99.7)
    m.on_utterance_sent(utt)
    m.on_score_sent(utt, SimpleNamespace(model_version="prior-2"))
    m.on_alert_sent(SimpleNamespace(scored_ts=99.9), SimpleNamespace(alert_type="escalation_risk", audio_end_ts=99.2))
    s = samples(m)
    expect = {"chunk_to_utterance": 0.8, "utterance_to_score": 0.3, "utterance_end_to_score": 0.8,
              "score_to_alert": 0.1, "utterance_end_to_alert": 0.8}
    for hop, seconds in expect.items():
        assert s[("callradar_latency_seconds_sum", (("hop", hop),))] == pytest.approx(seconds)
        assert s[("callradar_latency_seconds_count", (("hop", hop),))] == 1
    assert s[("callradar_utterances_total", (("speaker", "customer"),))] == 1
    assert s[("callradar_alerts_total", (("alert_type", "escalation_risk"),))] == 1
    assert s[("callradar_model_info", (("component", "score"), ("version", "prior-2")))] == 1


def test_a_fresh_score_worker_exports_its_model_version_before_the_first_score(monkeypatch):
    from callradar.pipeline.kafka.app import create_app
    from callradar.pipeline.stages.score import ScoreProcessor

    # The real score wiring and processor, with stand-in models; no broker, no registry.
    built = ScoreProcessor(SimpleNamespace(), SimpleNamespace(version="risk-a"))
    monkeypatch.setattr(ScoreProcessor, "from_settings", classmethod(lambda cls, settings: built))
    m = PrometheusMetrics(stages=("score",))
    create_app(load_settings({}), stages=("score",), metrics=m)
    info = {labels: v for (name, labels), v in samples(m).items() if name == "callradar_model_info"}
    assert info == {(("component", "score"), ("version", "risk-a")): 1}

    # A hot reload: the next score carries the new version, which replaces the old one.
    m.on_score_sent(SimpleNamespace(emitted_ts=0.0, audio_end_ts=0.0), SimpleNamespace(model_version="risk-b"))
    info = {labels: v for (name, labels), v in samples(m).items() if name == "callradar_model_info"}
    assert info == {(("component", "score"), ("version", "risk-b")): 1}


def test_clock_skew_never_gives_negative_latency_and_unstamped_records_are_skipped():
    m = PrometheusMetrics(clock=lambda: 100.0)
    m.on_utterance_sent(SimpleNamespace(speaker="agent", audio_end_ts=100.5))  # producer clock ahead
    m.on_score_sent(SimpleNamespace(emitted_ts=0.0, audio_end_ts=0.0), SimpleNamespace(model_version="v"))
    s = samples(m)
    assert s[("callradar_latency_seconds_sum", (("hop", "chunk_to_utterance"),))] == 0.0
    assert s[("callradar_latency_seconds_count", (("hop", "chunk_to_utterance"),))] == 1
    assert s[("callradar_latency_seconds_count", (("hop", "utterance_to_score"),))] == 0


def test_known_label_values_exist_before_the_first_event():
    s = samples(PrometheusMetrics(stages=("score",)))
    names = {name for name, _ in s}
    assert {"callradar_messages_total", "callradar_dead_letters_total", "callradar_latency_seconds_bucket",
            "callradar_utterances_total", "callradar_alerts_total", "process_cpu_seconds_total",
            "process_resident_memory_bytes"} <= names
    for hop in HOPS:
        assert ("callradar_latency_seconds_count", (("hop", hop),)) in s
    reasons = {dict(labels)["reason"] for name, labels in s if name == "callradar_dead_letters_total"}
    assert reasons == {c for c, _ in DEAD_LETTER_CATEGORIES} | {DEAD_LETTER_OTHER}


def test_real_time_factor_and_dead_letters():
    m = PrometheusMetrics()
    m.on_transcribed(audio_s=4.0, elapsed_s=0.4)
    m.on_transcribed(audio_s=0.0, elapsed_s=0.1)  # an empty batch: time counted, no ratio
    m.on_dead_letter("transcribe", "audio chunk is missing header 'seq'")
    s = samples(m)
    assert s[("callradar_stt_audio_seconds_total", ())] == 4.0
    assert s[("callradar_stt_busy_seconds_total", ())] == pytest.approx(0.5)
    assert s[("callradar_stt_real_time_factor_count", ())] == 1
    assert s[("callradar_stt_real_time_factor_sum", ())] == pytest.approx(0.1)
    assert s[("callradar_dead_letters_total", (("reason", "missing_header"), ("stage", "transcribe")))] == 1


def test_gauges_read_live_values_at_scrape_time():
    m = PrometheusMetrics()
    calls = [3]
    m.watch_live_calls("transcribe", lambda: calls[0])
    m.watch_stt_queue(lambda: 5)
    m.watch_consumer(lambda: {("calls.audio", 1): 12, ("calls.audio", 0): 0})
    calls[0] = 4
    s = samples(m)
    assert s[("callradar_active_calls", (("stage", "transcribe"),))] == 4
    assert s[("callradar_stt_queue_utterances", ())] == 5
    assert s[("callradar_consumer_lag", (("partition", "1"), ("topic", "calls.audio")))] == 12
    assert s[("callradar_consumer_lag", (("partition", "0"), ("topic", "calls.audio")))] == 0


def test_a_failing_lag_reader_does_not_break_the_scrape():
    m = PrometheusMetrics()

    def rebalancing():
        raise AssertionError("Partition is not assigned")

    m.watch_consumer(rebalancing)
    assert not [k for k in samples(m) if k[0] == "callradar_consumer_lag"]


def test_no_created_series_double_the_count():
    assert not [name for name, _ in samples(PrometheusMetrics()) if name.endswith("_created")]


def test_two_apps_in_one_process_keep_separate_registries():
    a, b = PrometheusMetrics(), PrometheusMetrics()
    a.on_dead_letter("score", "utterance: empty message")
    assert samples(b)[("callradar_dead_letters_total", (("reason", "empty"), ("stage", "score")))] == 0


def test_the_base_sensor_records_nothing_and_accepts_every_call():
    m = PipelineMetrics()
    m.on_message_in("score")
    m.on_transcribed(1.0, 0.1)
    m.watch_consumer(lambda: {})
    assert m.exposition()[0] == b""


def test_faust_consumer_lag_uses_the_read_position_then_the_committed_offset():
    tps = [TP("calls.audio", p) for p in range(5)]
    highwater = {0: 100, 1: 50, 2: None, 3: 10, 4: 0}
    consumer = SimpleNamespace(assignment=lambda: set(tps),
                               highwater=lambda t: highwater[t.partition],
                               _committed_offset={tps[1]: 20, tps[3]: None})
    monitor = SimpleNamespace(tp_read_offsets={tps[0]: 89}, tp_committed_offsets={})
    lag = faust_consumer_lag(SimpleNamespace(consumer=consumer, monitor=monitor))
    # p0: read up to offset 89 -> 10 unread; p1: committed 20 -> 30; p2: no high water yet;
    # p3: no position yet, so no guess; p4: empty, so nothing can be unread.
    assert lag == {("calls.audio", 0): 10, ("calls.audio", 1): 30, ("calls.audio", 4): 0}
