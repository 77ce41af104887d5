"""Consumer lag read from a Faust app's own consumer: the Kafka-side half of callradar_consumer_lag.

pipeline/metrics.py renders lag from whatever ``read()`` it is given
(``PipelineMetrics.watch_consumer``); this module is that read for a Faust worker,
and the only place the Faust consumer's and monitor's bookkeeping is looked at.
"""

from __future__ import annotations


def faust_consumer_lag(app) -> dict[tuple[str, int], int]:
    """{(topic, partition): lag} from a Faust app's own consumer, without asking Kafka.

    High water is what the consumer learnt on its last fetch; the position is
    the offset after the last message handed to a stream (Faust's monitor),
    else the committed offset Faust loaded when the partition was assigned.
    An empty partition with neither yet counts 0; other partitions without a
    position (a new group, nothing read) are left out rather than guessed.
    """
    consumer = app.consumer
    read_offsets = app.monitor.tp_read_offsets
    committed = {**getattr(consumer, "_committed_offset", {}), **app.monitor.tp_committed_offsets}
    out = {}
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        read = read_offsets.get(tp)
        position = read + 1 if read is not None else committed.get(tp)
        if position is None and highwater == 0:
            position = 0
        if highwater is None or position is None:
            continue
        out[(tp.topic, tp.partition)] = max(0, highwater - position)
    return out
