"""When the transcribe stage's audio offsets may be committed: held until their speech is sent,
then acknowledged in read order. Part of the Kafka layer (with pipeline/kafka/faust_consumer.py,
which commits only what these acknowledge); pure bookkeeping, so it is tested without Faust.

pipeline/kafka/app.py holds each audio message in :class:`HeldChunks` under its call channel
and releases it once pipeline/stages/transcribe.py says the channel is settled up to it
(``TranscribeProcessor.settled``); :class:`InOrderAcks` turns those releases into acks in the
order the messages were read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class InOrderAcks:
    """Acknowledges each source's messages in the order they were read, whatever order they are released in.

    Faust commits a partition up to the end of the first run of consecutive acked
    offsets, and compares that run with the committed offset only when that is known
    and not 0, and even then lets one unacknowledged message through
    (faust-streaming/faust#606). Audio is released channel by channel, out of
    offset order, so a held chunk could be committed past and its speech lost in a
    restart. Acked in read order, every run starts at the oldest message not yet acked.
    """

    def __init__(self):
        self.by_source: dict[object, deque[list]] = {}

    def read(self, source, ack: Callable[[], object]) -> Callable[[], None]:
        """Register a message just read from ``source``; returns what releases it."""
        queue = self.by_source.setdefault(source, deque())
        entry = [False, ack]  # released?, ack
        queue.append(entry)

        def release() -> None:
            entry[0] = True
            while queue and queue[0][0]:
                queue.popleft()[1]()

        return release

    def forget(self, source) -> None:
        """``source`` was taken away (a rebalance): what was read from it is read again, never acked here."""
        queue = self.by_source.pop(source, None)
        if queue is not None:
            queue.clear()  # releases still to come ack nothing

    def __len__(self) -> int:
        return sum(len(q) for q in self.by_source.values())


class HeldChunks:
    """Audio messages whose offsets must not be committed yet, per channel, in order.

    Kafka commits a partition up to its first unacknowledged message, so holding
    a chunk's ack until its speech is transcribed and sent means a crash makes
    Kafka send it again. ``ack`` is whatever acknowledges the message.
    """

    def __init__(self):
        self.by_channel: dict[tuple[str, str], deque[tuple[int, Callable[[], object]]]] = {}

    def hold(self, key: tuple[str, str], seq: int, ack: Callable[[], object]) -> None:
        self.by_channel.setdefault(key, deque()).append((seq, ack))

    def release_through(self, key: tuple[str, str], seq: int) -> None:
        held = self.by_channel.get(key)
        while held and held[0][0] <= seq:
            held.popleft()[1]()
        if not held:
            self.by_channel.pop(key, None)

    def release_all(self, key: tuple[str, str]) -> None:
        for _, ack in self.by_channel.pop(key, ()):
            ack()

    def __len__(self) -> int:
        return sum(len(h) for h in self.by_channel.values())
