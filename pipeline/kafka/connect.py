"""The one way every command that needs Kafka connects: a missing broker is one line with the fix."""

from __future__ import annotations

from callradar.pipeline.errors import UserError
from callradar.pipeline.kafka.clients import BrokerUnreachable, bootstrap_addresses, port_open, wait_for_broker
from callradar.pipeline.kafka.embedded import EmbeddedKafka
from callradar.pipeline.settings import Settings


def connect_or_explain(settings: Settings, timeout_s: float | None = None) -> dict:
    """:func:`wait_for_broker` for a command: the way every command that needs Kafka connects.

    Waits ``timeout_s`` (default CALLRADAR_KAFKA_CONNECT_TIMEOUT_S); a broker that does
    not answer is a UserError of one line naming the address and what to do about it.
    A refused login or TLS handshake stays a KafkaSecurityError (also one line).
    """
    timeout_s = settings.kafka_connect_timeout_s if timeout_s is None else timeout_s
    if settings.embedded and not any(port_open(host, port) for host, port in bootstrap_addresses(settings)) \
            and not EmbeddedKafka(settings).is_running():
        # Nobody is starting the embedded broker either: waiting would only delay the same answer.
        raise UserError(unreachable_message(BrokerUnreachable(settings, 0, None)))
    try:
        return wait_for_broker(settings, timeout_s)
    except BrokerUnreachable as exc:
        raise UserError(unreachable_message(exc)) from None


def unreachable_message(exc: BrokerUnreachable) -> str:
    """One line: the address, why if it is known, and the fix."""
    why = f" ({' '.join(str(exc.last_error).split())})" if exc.last_error else ""
    if exc.embedded:
        fix = "start one with `callradar kafka start` (or set CALLRADAR_KAFKA_BOOTSTRAP to your cluster)"
    else:
        fix = "check CALLRADAR_KAFKA_BOOTSTRAP and that the cluster is up"
    return f"no Kafka broker answers at {exc.bootstrap}{why}: {fix}"
