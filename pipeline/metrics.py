"""What the stages report about themselves, and its Prometheus exposition.

The Faust wiring (pipeline/kafka/app.py) calls a :class:`PipelineMetrics` at a few
points: a message taken in, a record sent, a batch transcribed, a dead letter.
The base class records nothing, so the stage processors never see Prometheus
and anything else (a test probe, another backend) can take its place. Nothing
here knows Kafka or Faust: what needs their internals (consumer lag) is read in
the Kafka layer (pipeline/kafka/lag.py) and handed in as a function.
:class:`PrometheusMetrics` keeps its own CollectorRegistry (several apps in one
process, as in tests, never collide) and renders it for the worker's /metrics.

Latency hops, all from wall-clock times carried in the records (workers on
different hosts need synchronised clocks, as any Kafka pipeline measuring
end-to-end latency does):

=========================  ==================================================
hop                        from ... to ...
=========================  ==================================================
chunk_to_utterance         capture of the utterance's last voiced audio (the
                           chunk that ends it) -> its transcript sent
utterance_to_score         transcript sent -> its score sent
utterance_end_to_score     last voiced audio captured -> score sent
score_to_alert             score sent -> alert sent
utterance_end_to_alert     last voiced audio captured -> alert sent (the
                           DESIGN.md target: p95 <= 1.0 s at 10 calls)
=========================  ==================================================
"""

from __future__ import annotations

import logging
import re
import time
from typing import Callable

from callradar.models.types import SPEAKERS
from callradar.pipeline.records import AGENT_BEHIND_NOTICE_S

log = logging.getLogger(__name__)

HOPS = ("chunk_to_utterance", "utterance_to_score", "utterance_end_to_score", "score_to_alert",
        "utterance_end_to_alert")
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)
ALERT_TYPES = ("escalation_risk", "assist_prompt")

# Dead-letter reasons are free text (they name offsets, values, call ids); a
# label must not be, or every bad message would make a new time series. First
# match wins; the full reason stays on the dead-letter topic.
DEAD_LETTER_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("oversize", r"over the \d+ byte limit|chunk longer"),
    ("after_end", r"after its channel ended"),
    ("out_of_order", r"already seen|out of order"),
    ("seq_gap", r"past the expected"),
    ("missing_header", r"no headers|missing header"),
    ("key_mismatch", r"differs from header"),
    ("bad_channel", r"header 'channel'"),
    ("bad_audio_format", r"sample rate|encoding"),
    ("bad_pcm", r"PCM"),
    ("bad_json", r"not valid JSON|expected a JSON object|is not allowed"),
    ("empty", r"empty message"),
    ("bad_version", r"unsupported version"),
    ("missing_field", r"missing field"),
    ("bad_header", r"header|sequence number|capture_ts|seq\b"),
    ("invalid_field", r"^\w+: "),  # a record's own check: "<kind>: <field> must be ..."
)
DEAD_LETTER_OTHER = "other"
_CATEGORY_PATTERNS = tuple((name, re.compile(pattern)) for name, pattern in DEAD_LETTER_CATEGORIES)


def reason_category(reason: str) -> str:
    """The short, bounded label for a dead-letter reason."""
    for name, pattern in _CATEGORY_PATTERNS:
        if pattern.search(reason):
            return name
    return DEAD_LETTER_OTHER


class PipelineMetrics:
    """The sensor interface the Faust wiring calls. This base records nothing."""

    def on_message_in(self, stage: str) -> None:
        """A message was taken off the stage's source topic."""

    def on_dead_letter(self, stage: str, reason: str) -> None:
        """A message was refused and sent to calls.deadletter."""

    def on_transcribed(self, audio_s: float, elapsed_s: float) -> None:
        """A batch of utterances went through speech to text (audio length, wall time)."""

    def on_transcribed_ahead(self, outcome: str, elapsed_s: float) -> None:
        """A guess made ahead was ``used`` (the utterance ended there) or ``wasted`` (speech went on)."""

    def on_utterance_sent(self, utterance) -> None:
        """A transcript (callradar.pipeline.records.Utterance) went to calls.transcripts."""

    def on_score_sent(self, utterance, score) -> None:
        """A score went to calls.scores for this utterance."""

    def on_alert_sent(self, score, alert) -> None:
        """An alert went to calls.alerts because of this score."""

    def set_model_version(self, component: str, version: str) -> None:
        """The model now serving ``component``: speech (Whisper), score (the model set on scores).

        Each stage sets its own when it is built, so a worker exports its versions before any traffic.
        """

    def watch_live_calls(self, stage: str, read: Callable[[], int]) -> None:
        """``read()`` gives the number of calls the stage holds state for."""

    def watch_stt_queue(self, read: Callable[[], int]) -> None:
        """``read()`` gives the number of utterances waiting for speech to text."""

    def watch_agent_backlog(self, worker: str, read: Callable[[], tuple[float, int, float]]) -> None:
        """``read()`` gives whisper worker ``worker``'s agent utterances waiting behind customer ones:
        (seconds of audio, utterances, seconds the oldest has waited)."""

    def watch_agent_behind(self, worker: str, read: Callable[[], tuple[int, float]]) -> None:
        """``read()`` gives, for whisper worker ``worker``'s calls, (calls whose agent side is behind by more
        than AGENT_BEHIND_NOTICE_S, the most behind call's lag in seconds): per-call news without a per-call label."""

    def watch_timed_out_channels(self, read: Callable[[], int]) -> None:
        """``read()`` gives how many call channels the idle timeout has closed (no end marker came)."""

    def watch_redelivered(self, stage: str, read: Callable[[], int]) -> None:
        """``read()`` gives how many redelivered messages the stage skipped as already handled."""

    def watch_shed(self, work: str, read: Callable[[], int]) -> None:
        """``read()`` gives how often ``work`` (e.g. assist_retrieval) was skipped under overload."""

    def watch_webhooks(self, reads: dict[str, Callable[[], int]]) -> None:
        """``reads``: result (sent, failed, dropped) -> how many webhook messages ended that way."""

    def watch_open_cases(self, read: Callable[[], int]) -> None:
        """``read()`` gives the escalation cases this worker owns that are not resolved."""

    def watch_consumer(self, read: Callable[[], dict[tuple[str, int], int]]) -> None:
        """``read()`` gives {(topic, partition): lag} for the partitions this worker owns."""

    def exposition(self) -> tuple[bytes, str]:
        """The body and content type of the /metrics page."""
        return b"", "text/plain; version=0.0.4; charset=utf-8"


class PrometheusMetrics(PipelineMetrics):
    """prometheus-client metrics in a registry of their own."""

    def __init__(self, stages: tuple[str, ...] = ("transcribe", "score", "trigger"), clock=time.time):
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            Info,
            ProcessCollector,
            disable_created_metrics,
        )

        # No *_created series: they double the series count and nothing here queries them.
        # (A process-wide switch in prometheus-client; a worker process has one registry.)
        disable_created_metrics()
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
        reg = dict(registry=self.registry)
        self.messages = Counter("callradar_messages", "Messages taken off a stage's source topic.",
                                ["stage"], **reg)
        self.latency = Histogram("callradar_latency_seconds",
                                 "Wall-clock latency of one pipeline hop (see pipeline/metrics.py).",
                                 ["hop"], buckets=LATENCY_BUCKETS, **reg)
        self.stt_audio = Counter("callradar_stt_audio_seconds", "Seconds of utterance audio transcribed.", **reg)
        self.stt_busy = Counter("callradar_stt_busy_seconds", "Wall-clock seconds spent in speech to text.", **reg)
        self.stt_ahead = Counter("callradar_stt_ahead", "Utterances transcribed ahead of their end, by outcome "
                                 "(used: it ended there; wasted: speech went on).", ["outcome"], **reg)
        self.stt_ahead_seconds = Counter("callradar_stt_ahead_seconds", "Model seconds of those guesses, by "
                                         "outcome (used ones are in callradar_stt_busy_seconds too).", ["outcome"], **reg)
        self.stt_rtf = Histogram("callradar_stt_real_time_factor",
                                 "Speech-to-text time over audio time, per batch of utterances.",
                                 buckets=RTF_BUCKETS, **reg)
        self.stt_queue = Gauge("callradar_stt_queue_utterances", "Utterances waiting for speech to text.", **reg)
        self.utterances = Counter("callradar_utterances", "Transcripts sent, by speaker.", ["speaker"], **reg)
        self.live_calls = Gauge("callradar_active_calls", "Calls the stage holds live state for.", ["stage"], **reg)
        self.alerts = Counter("callradar_alerts", "Alerts sent, by type.", ["alert_type"], **reg)
        self.dead_letters = Counter("callradar_dead_letters", "Messages refused to calls.deadletter.",
                                    ["stage", "reason"], **reg)
        self.models = Info("callradar_model", "The model serving each component.", ["component"], **reg)
        self._versions: dict[str, str] = {}
        self._lag_reader: Callable[[], dict[tuple[str, int], int]] | None = None
        self.registry.register(_LagCollector(self))
        self.timed_out = _ReadCounter("callradar_channels_timed_out",
                                      "Call channels closed by the idle timeout: audio stopped without an end marker.")
        self.registry.register(self.timed_out)
        self.redelivered = _ReadCounter("callradar_redelivered_skipped",
                                        "Messages redelivered after a restart that the stage had already handled.",
                                        label="stage")
        self.registry.register(self.redelivered)
        self.shed = _ReadCounter("callradar_shed", "Optional work skipped because the stage was behind.", label="work")
        self.registry.register(self.shed)
        self.webhooks = _ReadCounter("callradar_webhook_notifications",
                                     "Webhook messages about escalation cases, by result (sent, failed after "
                                     "retries, dropped from a full queue).", label="result")
        self.registry.register(self.webhooks)
        self.agent_backlog = _PerWorkerGauges(AGENT_BACKLOG_GAUGES)
        self.registry.register(self.agent_backlog)
        self.agent_behind = _PerWorkerGauges(AGENT_BEHIND_GAUGES)
        self.registry.register(self.agent_behind)
        self.open_cases = Gauge("callradar_cases_open", "Escalation cases this worker owns that are not resolved.",
                                **reg)

        # Known label values start at zero, so rate() and the dashboard see them before the first event.
        for stage in stages:
            self.messages.labels(stage)
            for category, _ in DEAD_LETTER_CATEGORIES:
                self.dead_letters.labels(stage, category)
            self.dead_letters.labels(stage, DEAD_LETTER_OTHER)
        for hop in HOPS:
            self.latency.labels(hop)
        for speaker in SPEAKERS:
            self.utterances.labels(speaker)
        for alert_type in ALERT_TYPES:
            self.alerts.labels(alert_type)

    def _hop(self, hop: str, since_ts: float) -> None:
        if since_ts > 0:  # 0 means the producer did not stamp the time
            self.latency.labels(hop).observe(max(0.0, self.clock() - since_ts))

    def on_message_in(self, stage: str) -> None:
        self.messages.labels(stage).inc()

    def on_dead_letter(self, stage: str, reason: str) -> None:
        self.dead_letters.labels(stage, reason_category(reason)).inc()

    def on_transcribed(self, audio_s: float, elapsed_s: float) -> None:
        self.stt_audio.inc(audio_s)
        self.stt_busy.inc(elapsed_s)
        if audio_s > 0:
            self.stt_rtf.observe(elapsed_s / audio_s)

    def on_transcribed_ahead(self, outcome: str, elapsed_s: float) -> None:
        self.stt_ahead.labels(outcome).inc()
        self.stt_ahead_seconds.labels(outcome).inc(elapsed_s)

    def on_utterance_sent(self, utterance) -> None:
        self.utterances.labels(utterance.speaker if utterance.speaker in SPEAKERS else "other").inc()
        self._hop("chunk_to_utterance", utterance.audio_end_ts)

    def on_score_sent(self, utterance, score) -> None:
        self._hop("utterance_to_score", utterance.emitted_ts)
        self._hop("utterance_end_to_score", utterance.audio_end_ts)
        self.set_model_version("score", score.model_version)

    def on_alert_sent(self, score, alert) -> None:
        self._hop("score_to_alert", score.scored_ts)
        self._hop("utterance_end_to_alert", alert.audio_end_ts)
        self.alerts.labels(alert.alert_type).inc()

    def set_model_version(self, component: str, version: str) -> None:
        if version and self._versions.get(component) != version:  # a hot-reloaded model: from its first score
            self._versions[component] = version
            self.models.labels(component).info({"version": version})

    def watch_live_calls(self, stage: str, read: Callable[[], int]) -> None:
        self.live_calls.labels(stage).set_function(read)

    def watch_stt_queue(self, read: Callable[[], int]) -> None:
        self.stt_queue.set_function(read)

    def watch_agent_backlog(self, worker: str, read: Callable[[], tuple[float, int, float]]) -> None:
        self.agent_backlog.reads[worker] = read

    def watch_agent_behind(self, worker: str, read: Callable[[], tuple[int, float]]) -> None:
        self.agent_behind.reads[worker] = read

    def watch_timed_out_channels(self, read: Callable[[], int]) -> None:
        self.timed_out.read = read

    def watch_redelivered(self, stage: str, read: Callable[[], int]) -> None:
        self.redelivered.reads[stage] = read

    def watch_shed(self, work: str, read: Callable[[], int]) -> None:
        self.shed.reads[work] = read

    def watch_webhooks(self, reads: dict[str, Callable[[], int]]) -> None:
        self.webhooks.reads.update(reads)

    def watch_open_cases(self, read: Callable[[], int]) -> None:
        self.open_cases.set_function(read)

    def watch_consumer(self, read: Callable[[], dict[tuple[str, int], int]]) -> None:
        self._lag_reader = read

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ReadCounter:
    """A counter the stage keeps itself, read at scrape time (0 until something is watched).

    With ``label``, one series per value in ``reads`` (label value -> read function).
    """

    def __init__(self, name: str, documentation: str, label: str | None = None):
        self.name, self.documentation, self.label = name, documentation, label
        self.read: Callable[[], int] | None = None
        self.reads: dict[str, Callable[[], int]] = {}

    def describe(self):
        from prometheus_client.core import CounterMetricFamily

        return [CounterMetricFamily(self.name, self.documentation, labels=[self.label] if self.label else None)]

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        if self.label is None:
            yield CounterMetricFamily(self.name, self.documentation, value=self.read() if self.read else 0)
            return
        family = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, read in self.reads.items():
            family.add_metric([value], read())
        yield family


# The agent side per whisper worker (pipeline/stages/stt_queue.py): (name, help), in the order its read gives them.
AGENT_BACKLOG_GAUGES = (
    ("callradar_stt_agent_backlog_seconds", "Seconds of agent audio waiting behind customer utterances."),
    ("callradar_stt_agent_backlog_utterances", "Agent utterances waiting behind customer utterances."),
    ("callradar_stt_agent_oldest_wait_seconds", "How long the oldest waiting agent utterance has waited."),
)
AGENT_BEHIND_GAUGES = (
    ("callradar_stt_agent_behind_calls", f"Calls whose agent side is more than {AGENT_BEHIND_NOTICE_S:g} s behind "
                                         "(their oldest waiting agent utterance has waited that long)."),
    ("callradar_stt_agent_behind_max_seconds", "How far behind the most behind call's agent side is."),
)


class _PerWorkerGauges:
    """Gauges labelled by whisper worker, read at scrape time: ``reads`` maps a worker to a function giving
    one value per family."""

    def __init__(self, families: tuple[tuple[str, str], ...]):
        self.families = families
        self.reads: dict[str, Callable[[], tuple]] = {}

    def describe(self):
        from prometheus_client.core import GaugeMetricFamily

        return [GaugeMetricFamily(name, doc, labels=["worker"]) for name, doc in self.families]

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        families = [GaugeMetricFamily(name, doc, labels=["worker"]) for name, doc in self.families]
        for worker, read in sorted(self.reads.items()):
            for family, value in zip(families, read()):
                family.add_metric([worker], value)
        yield from families


class _LagCollector:
    """callradar_consumer_lag, read at scrape time: no timer, no extra Kafka requests."""

    def __init__(self, metrics: PrometheusMetrics):
        self.metrics = metrics

    def describe(self):
        return []  # families appear and go with partition assignment

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "callradar_consumer_lag",
            "Messages on a partition this worker owns that it has not read yet (high water - position).",
            labels=["topic", "partition"],
        )
        read = self.metrics._lag_reader
        if read is not None:
            try:
                lags = read()
            except Exception as exc:  # a scrape must never break on a rebalance in progress
                log.debug("consumer lag not available: %s", exc)
                lags = {}
            for (topic, partition), lag in sorted(lags.items()):
                family.add_metric([topic, str(partition)], lag)
        yield family

