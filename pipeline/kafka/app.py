"""The Faust app: wires the stage processors to Kafka topics.

Part of the Kafka layer (pipeline/kafka/), the only place that touches Kafka
or Faust. The stage processors (pipeline/stages/) get decoded
records and return records; here we decode, route refusals to the dead-letter
topic, batch, and send.

Models load when the app is built, before the worker joins its consumer group,
so the first utterance doesn't pay for loading Whisper or the text encoder.

Crash recovery: each stage keeps its per-call state in a Faust table (a
compacted changelog topic, restored when a worker starts), the transcribe stage
holds audio offsets until their speech is sent (pipeline/kafka/acks.py),
and every stage skips redelivered utterances by id, so a kill -9 and restart
loses no utterance or alert and sends none twice.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faust

from callradar.models.speech import model_workers
from callradar.pipeline.kafka.clients import faust_credentials
from callradar.pipeline.kafka.faust_consumer import App
from callradar.pipeline.kafka.lag import faust_consumer_lag
from callradar.pipeline.metrics import PipelineMetrics, PrometheusMetrics
from callradar.pipeline.records import (
    CallEvent,
    ChannelEnd,
    DeadLetter,
    MalformedMessage,
    Score,
    Topics,
    Utterance,
    decode_audio_message,
)
from callradar.pipeline.settings import STAGES, Settings

log = logging.getLogger(__name__)

SCORE_BATCH = 32
REBUILDING, PAUSED, READY = "rebuilding", "paused", "ready"  # a calls.cases partition's state in this worker


def app_id(settings: Settings, stages: tuple[str, ...]) -> str:
    """One consumer group per stage set: workers running the same stages share partitions."""
    return f"callradar-{settings.topic_prefix}{'-'.join(stages)}"


def create_app(settings: Settings, stages: tuple[str, ...] = STAGES,
               metrics: PipelineMetrics | None = None) -> faust.App:
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; choose from {STAGES}")
    app = App(  # faust.App with a consumer that keeps offset order and commits only what was acked
        app_id(settings, stages),
        broker=f"kafka://{settings.bootstrap}",
        broker_credentials=faust_credentials(settings),  # SASL/TLS from settings (docs/security.md)
        store="memory://",
        datadir=str(settings.state_dir / "faust"),
        web_bind=settings.worker_web_host,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        topic_partitions=settings.topic_partitions,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.consumer_session_timeout_s,
        broker_heartbeat_interval=max(settings.consumer_session_timeout_s / 5, 0.5),
        broker_rebalance_timeout=max(settings.consumer_session_timeout_s * 2, 10.0),
        producer_linger=0.0,
        stream_wait_empty=False,
    )
    topics = Topics(settings.topic_prefix)
    metric_stages = (*stages, "cases") if "trigger" in stages else stages
    wiring = _Wiring(app, settings, topics, metrics or PrometheusMetrics(metric_stages))
    if "transcribe" in stages:
        wiring.transcribe_stage()
    if "score" in stages:
        wiring.score_stage()
    if "trigger" in stages:
        wiring.trigger_stage()
        wiring.case_stage()  # the cases of the alerts it makes: same group, same partitions (pipeline/stages/cases.py)
    wiring.watch_steps()
    wiring.health_pages()
    wiring.metrics_page()
    return app


def read_partitions(settings: Settings, topic: str, partitions: list[int], group: str):
    """Every record of ``topic``'s ``partitions`` up to their end now, and ``group``'s committed offset of each.

    For a stage that rebuilds its state from a topic when it takes partitions over;
    blocking (kafka-python), so run it in a thread.
    """
    from kafka import TopicPartition

    from callradar.pipeline.kafka.clients import make_consumer
    from callradar.pipeline.kafka.readers import RawRecord

    consumer = make_consumer(settings, None, group_id=group, enable_auto_commit=False)
    try:
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        committed = {tp.partition: consumer.committed(tp) for tp in assigned}
        end = consumer.end_offsets(assigned)
        consumer.seek_to_beginning(*assigned)
        records = []
        while any(consumer.position(tp) < end[tp] for tp in assigned):
            for batch in consumer.poll(timeout_ms=200).values():
                records += [RawRecord.of(r) for r in batch if r.offset < end[TopicPartition(r.topic, r.partition)]]
    finally:
        consumer.close()
    return records, {p: offset for p, offset in committed.items() if offset is not None}


def run_worker(app: faust.App, settings: Settings) -> None:
    """Run ``app`` as the Faust worker of this process until it is stopped (Ctrl-C, SIGTERM)."""
    worker = faust.Worker(app, loglevel=settings.log_level, override_logging=False)
    worker.execute_from_commandline()


class _Wiring:
    """Holds what the stages share: topics, the dead-letter sender, readiness."""

    def __init__(self, app: faust.App, settings: Settings, topics: Topics,
                 metrics: PipelineMetrics | None = None):
        self.app = app
        self.metrics = metrics or PipelineMetrics()
        self.metrics.watch_consumer(lambda: faust_consumer_lag(app))
        self.settings = settings
        self.names = topics
        raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        self.topic = {name: app.topic(getattr(topics, name), **raw) for name in Topics.NAMES}
        # Model calls go through their own threads: speech to text one per whisper worker, plus
        # one for transcripts made ahead (CTranslate2 runs that many at once), the text models one.
        self.model_pool = ThreadPoolExecutor(max_workers=model_workers(settings.whisper_workers, settings.vad_transcribe_ahead_ms), thread_name_prefix="stt")
        self.text_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="text")
        self.tables: list = []
        self._changelogs_known = False
        self.steps: dict[str, tuple[str, float]] = {}  # stage -> (what it awaits, since): see watch_steps
        self.case_partitions: dict[int, str] = {}  # calls.cases partition -> REBUILDING | PAUSED | READY

    @property
    def ready(self) -> bool:
        """In the consumer group and not in a rebalance now, read at each /readyz.

        Faust sets ``app.rebalancing`` as the first thing a rebalance does (its partitions
        are revoked) and clears it only once the new assignment is recovered and the
        streams resume; ``rebalancing_count`` is 0 until the first join begins.
        """
        rebuilding = any(state == REBUILDING for state in self.case_partitions.values())
        return self.app.rebalancing_count > 0 and not self.app.rebalancing and not rebuilding

    def state_table(self, name: str):
        """Per-call state that survives a crash: call id -> JSON, in a compacted changelog topic.

        Keyed by the call id's bytes and placed by the producer's partitioner, like
        every topic here, so a call's state lands in the partition number of its
        messages and is restored on the worker that owns them.
        """
        schema = faust.Schema(key_type=str, key_serializer="raw", value_serializer="json")
        table = self.app.Table(name, partitions=self.settings.topic_partitions, use_partitioner=True, schema=schema)
        self.tables.append(table)
        return table

    async def changelogs_known(self) -> None:
        """Make the producer track every state table's changelog topic, and wait for its partitions.

        A table write picks its partition from the producer's metadata there and
        then, without waiting. The producer refreshes metadata only for the topics
        it tracks (those it has sent to), so a changelog it merely saw once drops
        out at the next refresh, and the write raises inside the stage. Seen under
        load: the trigger agents crashed and restarted 73 times (their scores' alerts
        lost), and a worker whose transcribe task crashed this way stopped. Every
        stage awaits this before its first event (at once after the first time).
        """
        if self._changelogs_known:
            return
        client = self.app.producer._ensure_producer().client
        for table in self.tables:
            name = table.changelog_topic.get_topic_name()
            await client.add_topic(name)  # kept in every metadata refresh from now on
            await client._wait_on_metadata(name)
        self._changelogs_known = True

    @contextlib.contextmanager
    def step(self, stage: str, what: str):
        """Mark what a stage is waiting for, so a stall names itself in the log (see watch_steps)."""
        self.steps[stage] = (what, time.monotonic())
        try:
            yield
        finally:
            self.steps.pop(stage, None)

    def stalls(self, now: float, stall_s: float = 10.0) -> list[str]:
        """Stages waiting on one step for over ``stall_s``, as log lines."""
        return [f"{stage} stage: still waiting for {what} after {now - since:.0f} s"
                for stage, (what, since) in list(self.steps.items()) if now - since > stall_s]

    def watch_steps(self) -> None:
        """Every 5 s, log what any stage has waited on for over 10 s: a hung model call or a
        produce that never completes would otherwise only show as silence."""
        @self.app.timer(interval=5.0)
        async def log_stalls():
            for line in self.stalls(time.monotonic()):
                log.warning(line)

    async def send_all(self, name: str, records) -> None:
        """Send records (keyed by their call id); returns once the broker has them all.

        Callers record an output as done (changelog state) only after this returns.
        """
        delivered = [await self.topic[name].send(key=r.call_id.encode(), value=r.encode()) for r in records]
        await asyncio.gather(*delivered)

    async def decoded(self, stage: str, source, event, kind):
        """``event`` as a ``kind`` record, or None after sending it to the dead-letter topic."""
        try:
            return kind.decode(event.value)
        except MalformedMessage as exc:
            await self.dead_letter(stage, source.get_topic_name(), event.key, event.value, event.headers, str(exc))
            return None

    async def dead_letter(self, stage: str, source: str, key, value, headers, reason: str) -> None:
        log.warning("dead letter from %s: %s", stage, reason)
        self.metrics.on_dead_letter(stage, reason)
        doc = DeadLetter.refused(stage, source, reason, key, value, headers, time.time())
        await self.topic["deadletter"].send(key=(doc.key or "").encode(), value=doc.encode())

    # ------------------------------------------------------------ transcribe

    def transcribe_stage(self) -> None:
        from callradar.models.speech import SpeechToText
        from callradar.pipeline.audio.redact import transcript_redactor
        from callradar.pipeline.kafka.acks import HeldChunks, InOrderAcks
        from callradar.pipeline.stages.agent_spool import AudioSpool
        from callradar.pipeline.stages.stt_queue import BATCH, CPU_BATCH, SpeechQueue
        from callradar.pipeline.stages.transcribe import MODEL_RATE, TranscribeProcessor, transcript_records

        stt = SpeechToText(self.settings)
        processor = TranscribeProcessor(self.settings, progress=self.state_table("transcribe-progress"))
        held = HeldChunks()  # audio offsets not to commit until their speech is sent
        in_order = InOrderAcks()  # ... and acked in offset order per partition (see its docstring)
        # PII never leaves this stage: transcripts, scores, alerts and the archive get placeholders.
        redact = transcript_redactor(self.settings, getattr(self.metrics, "registry", None))
        # Queues (bounded: when speech to text falls behind, ingest waits and the backlog stays in Kafka;
        # customer utterances first), concurrent model calls, transcripts made ahead: pipeline/stages/stt_queue.py.
        spool = None
        if self.settings.stt_priority == "customer-first" and self.settings.stt_agent_spool_s > 0:
            spool = AudioSpool.for_worker(Path(self.settings.state_dir), self.settings.stt_agent_spool_s, MODEL_RATE)
            atexit.register(spool.close)  # what it held is read again from Kafka by whoever takes the calls
        speech = SpeechQueue(stt, self.model_pool, self.settings.whisper_workers, self.settings.stt_queue_max,
                             self.settings.vad_transcribe_ahead_ms, self.metrics,
                             priority=self.settings.stt_priority, agent_backlog_s=self.settings.stt_agent_backlog_s,
                             spool=spool, batch=CPU_BATCH if stt.device == "cpu" else BATCH)
        self.metrics.set_model_version("speech", stt.model_id)
        self.metrics.watch_live_calls("transcribe", lambda: processor.live_calls)
        self.metrics.watch_redelivered("transcribe", lambda: processor.replayed)
        self.metrics.watch_stt_queue(speech.qsize)
        self.metrics.watch_timed_out_channels(lambda: processor.timed_out)
        audio_topic = self.topic["audio"]

        def release_settled(keys) -> None:
            for key in list(keys):
                if processor.settled(*key):
                    held.release_all(key)

        @self.app.agent(audio_topic, name="transcribe-ingest")
        async def ingest(stream):
            await self.changelogs_known()
            async for event in stream.noack().events():  # acked by `held`, once their speech is sent
                now = time.time()
                self.metrics.on_message_in("transcribe")
                release = in_order.read(event.message.partition, event.ack)
                try:
                    message = decode_audio_message(event.key, event.value, event.headers)
                    if isinstance(message, ChannelEnd):
                        finished = processor.end_channel(message.call_id, message.channel)
                    else:
                        finished = processor.on_chunk(message, now, source=event.message.partition,
                                                      position=event.message.offset)
                except MalformedMessage as exc:
                    await self.dead_letter("transcribe", audio_topic.get_topic_name(), event.key,
                                           event.value, event.headers, str(exc))
                    release()
                    continue
                key = (message.call_id, message.channel)
                held.hold(key, message.seq, release)
                for utt in finished:
                    await speech.put(utt)
                if not finished:
                    speech.guess(processor, *key)
                release_settled([key])

        @self.app.task
        async def transcribe_pending():
            await self.changelogs_known()
            await asyncio.gather(*(transcribe_from(q, f"transcribe-{i}") for i, q in enumerate(speech.queues)))

        async def transcribe_from(queue, name: str):
            while True:
                batch = await speech.next_batch(queue)
                with self.step(name, f"speech to text ({len(batch)} utterances)"):
                    results = await speech.transcribe(batch)
                records = transcript_records(batch, results, redact, stt.model_id, time.time())
                with self.step(name, f"the broker to take {len(records)} transcripts"):
                    await self.send_all("transcripts", records)
                # Progress (which makes a restart skip this audio) only now the transcripts are on the broker.
                for utt, record in zip(batch, records):
                    self.metrics.on_utterance_sent(record)
                    processor.sent(utt)
                    held.release_through((utt.call_id, utt.speaker), utt.progress["seq"])
                    release_settled([(utt.call_id, utt.speaker)])

        @self.app.on_partitions_revoked.connect
        async def forget_revoked(app, revoked, **kwargs):
            """A rebalance: Kafka sends the revoked partitions' audio again from the committed offsets."""
            for tp in revoked:
                if tp.topic == audio_topic.get_topic_name():
                    forgotten = processor.forget_source(tp.partition)
                    for key in forgotten:
                        held.by_channel.pop(key, None)
                    speech.forget(forgotten)
                    in_order.forget(tp.partition)

        @self.app.timer(interval=5.0)
        async def close_idle_channels():
            await self.changelogs_known()
            for utt in processor.evict_idle(time.time()):
                await speech.put(utt)
            release_settled(held.by_channel)

    # ------------------------------------------------------------ score

    def score_stage(self) -> None:
        from callradar.pipeline.stages.score import ScoreProcessor

        processor = ScoreProcessor.from_settings(self.settings)  # the registry's models, hot-reloaded
        saved = self.state_table("score-state")
        source = self.topic["transcripts"]
        # Exported from the start; on_score_sent keeps it current after a hot reload.
        self.metrics.set_model_version("score", processor.model_version)
        self.metrics.watch_live_calls("score", lambda: processor.live_calls)
        self.metrics.watch_redelivered("score", lambda: processor.seen.duplicates)

        @self.app.agent(source, name="score")
        async def score(stream):
            await self.changelogs_known()
            loop = asyncio.get_running_loop()
            async for events in stream.take_events(SCORE_BATCH, within=0.005):
                utterances = []
                for event in events:
                    self.metrics.on_message_in("score")
                    utt = await self.decoded("score", source, event, Utterance)
                    if utt is not None:
                        utterances.append(utt)
                for call_id in {u.call_id for u in utterances} - processor.calls.keys():
                    if saved.get(call_id):  # state from before a restart
                        processor.restore(call_id, saved[call_id])
                with self.step("score", f"the text models ({len(utterances)} utterances)"):
                    scores = await loop.run_in_executor(self.text_pool, processor.score, utterances)
                with self.step("score", f"the broker to take {len(scores)} scores"):
                    await self.send_all("scores", scores)  # before the state that marks them seen
                by_id = {u.utterance_id: u for u in utterances}
                for s in scores:
                    self.metrics.on_score_sent(by_id[s.utterance_id], s)
                for call_id in {s.call_id for s in scores}:
                    saved[call_id] = processor.snapshot(call_id)
                for call_id in processor.evicted:
                    saved.pop(call_id, None)
                processor.evicted.clear()

    # ------------------------------------------------------------ trigger

    def trigger_stage(self) -> None:
        from callradar.agents.triggers import load_triggers
        from callradar.pipeline.stages.trigger import TriggerProcessor

        processor = TriggerProcessor(load_triggers(self.settings), self.settings.shed_assist_after_s)
        saved = self.state_table("trigger-state")
        self.metrics.watch_redelivered("trigger", lambda: processor.seen.duplicates)
        self.metrics.watch_shed("assist_retrieval", lambda: processor.shed)
        source, calls = self.topic["scores"], self.topic["events"]
        # One thread owns the trigger state; a firing runs the encoder (assist) off the event loop.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trigger")

        def restored(call_id: str) -> None:
            if not processor.knows(call_id) and saved.get(call_id):  # state from before a restart
                processor.restore(call_id, saved[call_id])

        def on_score(score: Score):
            restored(score.call_id)
            return processor.on_score(score), processor.snapshot(score.call_id)

        def on_event(call_event: CallEvent):
            restored(call_event.call_id)
            return processor.on_event(call_event), processor.snapshot(call_event.call_id)

        @self.app.agent(source, name="trigger")
        async def trigger(stream):
            await self.changelogs_known()
            loop = asyncio.get_running_loop()
            async for event in stream.events():
                self.metrics.on_message_in("trigger")
                score = await self.decoded("trigger", source, event, Score)
                if score is None:
                    continue
                with self.step("trigger", "the trigger rules"):
                    alerts, state = await loop.run_in_executor(pool, on_score, score)
                with self.step("trigger", f"the broker to take {len(alerts)} alerts"):
                    await self.send_all("alerts", alerts)  # before the state that marks the score seen
                for alert in alerts:
                    self.metrics.on_alert_sent(score, alert)
                saved[score.call_id] = state

        @self.app.agent(calls, name="trigger-calls")
        async def trigger_calls(stream):
            await self.changelogs_known()
            loop = asyncio.get_running_loop()
            async for event in stream.events():
                call_event = await self.decoded("trigger", calls, event, CallEvent)
                if call_event is None:
                    continue
                forgotten, state = await loop.run_in_executor(pool, on_event, call_event)
                saved[call_event.call_id] = state
                for call_id in forgotten:
                    saved.pop(call_id, None)

    # ------------------------------------------------------------ cases

    def case_stage(self) -> None:
        """Escalation cases of the alerts this worker's partitions carry (pipeline/stages/cases.py).

        Part of the trigger worker: its consumer group reads calls.alerts, calls.events
        and calls.cases co-partitioned with calls.scores, so the worker that owns a
        call owns its cases. When it takes a partition over it first rebuilds that
        partition's cases from calls.cases (events before the group's committed offset
        silently; later ones, which the last owner may not have acted on, live), and
        the partition's alerts and case events wait until that is done (/readyz says
        not ready meanwhile). The case-events agent then reads from the committed
        offset again; what the rebuild applied is skipped by event id.
        """
        from callradar.agents.notify import Notifier
        from callradar.agents.routing import load_matrix
        from callradar.pipeline.records import Alert, CaseEvent
        from callradar.pipeline.stages.cases import CaseProcessor
        from callradar.training.labelled_calls import Outcome

        notifier = Notifier()  # one background thread: a slow or dead receiver never holds up a stage
        processor = CaseProcessor(load_matrix(self.settings), notifier, agents=self.state_table("case-agents"))
        self.case_processor = processor
        self.metrics.watch_webhooks(notifier.reads())
        self.metrics.watch_open_cases(lambda: processor.open_cases)
        self.metrics.watch_redelivered("cases", lambda: processor.skipped)
        cases, alerts, calls = self.topic["cases"], self.topic["alerts"], self.topic["events"]
        cases_name, group = cases.get_topic_name(), self.app.conf.id
        states = self.case_partitions

        async def owned(partition: int) -> bool:
            """Wait while the partition is rebuilt or in a rebalance; False once it is not ours."""
            while states.get(partition) != READY:
                if partition not in states:
                    return False
                await asyncio.sleep(0.05)
            return True

        async def publish_outcome(outcome: dict | None) -> None:
            if outcome is not None:
                await self.send_all("outcomes", [Outcome.from_dict(outcome)])

        async def rebuild(partitions: set[int]) -> None:
            loop = asyncio.get_running_loop()
            while True:
                try:
                    records, committed = await loop.run_in_executor(
                        None, read_partitions, self.settings, cases_name, sorted(partitions), group)
                    break
                except Exception as exc:  # the broker is away: try again, the partitions stay paused
                    log.warning("cases: could not read %s to rebuild cases (%s); retrying", cases_name, exc)
                    await asyncio.sleep(2.0)
                    partitions = {p for p in partitions if states.get(p) == REBUILDING}
                    if not partitions:
                        return
            for n, rec in enumerate(records):
                if states.get(rec.partition) != REBUILDING:
                    continue  # taken away meanwhile
                try:
                    event = CaseEvent.decode(rec.value)
                except MalformedMessage:
                    continue  # the case-events agent dead-letters it when it reads it (or did already)
                live = rec.offset >= committed.get(rec.partition, 0)
                await publish_outcome(processor.apply(event, rec.partition, live=live))
                if n % 500 == 499:
                    await asyncio.sleep(0)  # let the web pages and heartbeats through
            for p in partitions:
                if states.get(p) == REBUILDING:
                    states[p] = READY
            log.info("cases: rebuilt partition(s) %s of %s from %d event(s); %d open case(s)",
                     ",".join(map(str, sorted(partitions))), cases_name, len(records), processor.open_cases)

        @self.app.on_partitions_revoked.connect
        async def pause_cases(app, revoked, **kwargs):
            for tp in revoked:
                if tp.topic == cases_name and states.get(tp.partition) == READY:
                    states[tp.partition] = PAUSED  # no breach checks until we know it is still ours

        @self.app.on_partitions_assigned.connect
        async def take_cases(app, assigned, **kwargs):
            mine = {tp.partition for tp in assigned if tp.topic == cases_name}
            gone = set(states) - mine
            if gone:
                processor.forget_partitions(gone)
                for p in gone:
                    del states[p]
            new = mine - set(states)
            for p in mine - new:
                if states[p] == PAUSED:
                    states[p] = READY  # kept through the rebalance: the book is still current
            if new:
                for p in new:
                    states[p] = REBUILDING
                asyncio.ensure_future(rebuild(new))

        @self.app.agent(cases, name="cases")
        async def case_events(stream):
            await self.changelogs_known()
            async for event in stream.events():
                self.metrics.on_message_in("cases")
                if not await owned(event.message.partition):
                    continue
                case_event = await self.decoded("cases", cases, event, CaseEvent)
                if case_event is None:
                    continue
                with self.step("cases", "the broker to take an outcome"):
                    await publish_outcome(processor.apply(case_event, event.message.partition))

        @self.app.agent(alerts, name="cases-alerts")
        async def case_alerts(stream):
            await self.changelogs_known()
            async for event in stream.events():
                if not await owned(event.message.partition):
                    continue
                alert = await self.decoded("cases", alerts, event, Alert)
                if alert is None:
                    continue
                try:
                    opened = processor.on_alert(alert)
                except MalformedMessage as exc:
                    await self.dead_letter("cases", alerts.get_topic_name(), event.key, event.value, event.headers,
                                           str(exc))
                    continue
                if opened is not None:
                    with self.step("cases", "the broker to take an opened case"):
                        await self.send_all("cases", [opened])

        @self.app.agent(calls, name="cases-calls")
        async def case_calls(stream):
            await self.changelogs_known()
            async for event in stream.events():
                try:
                    processor.on_call_event(CallEvent.decode(event.value))
                except MalformedMessage:
                    continue  # the trigger stage dead-letters it

        @self.app.timer(interval=1.0)
        async def check_response_times():
            await self.changelogs_known()
            now = time.time()
            ready = [p for p, state in states.items() if state == READY]
            for breach in processor.breaches(now, ready):
                with self.step("cases", "the broker to take a breach"):
                    await self.send_all("cases", [breach.event])  # the case climbs ...
                    await self.send_all("alerts", [Alert.from_dict(breach.alert)])  # ... and raises a new alert
            processor.evict(now)

    # ------------------------------------------------------------ health

    def health_pages(self) -> None:
        @self.app.page("/healthz")
        async def healthz(web, request):
            return web.json({"status": "ok"})

        @self.app.page("/readyz")
        async def readyz(web, request):
            status = 200 if self.ready else 503
            return web.json({"ready": self.ready}, status=status)

    # ------------------------------------------------------------ metrics

    def metrics_page(self) -> None:
        @self.app.page("/metrics")
        async def metrics(web, request):
            body, content_type = self.metrics.exposition()
            return web.bytes(body, headers={"Content-Type": content_type})
