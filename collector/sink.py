"""The Kafka side: an idempotent producer writing Avro (Confluent wire format) with the schema the
stack registered, behind a bounded queue.

- `produce` never blocks a request: librdkafka's own queue is the bounded in-memory queue. A request
  is accepted only when all its events fit under `queue_size` (checked before any is produced, so a
  batch is never half-accepted); otherwise the caller answers 503 with Retry-After.
- An accepted event is retried by librdkafka (idempotent: no duplicates from retries) until
  `delivery_timeout_seconds`; one that still fails is counted as a produce error.
- The schema is looked up, never registered (`auto.register.schemas=false`): the serializer asks the
  registry for the id of exactly this schema under `<topic>-value` and fails while it is missing.
- A background thread serves delivery reports and watches the broker; `close()` flushes.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

from confluent_kafka import KafkaError, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry import topic_subject_name_strategy
from confluent_kafka.serialization import MessageField, SerializationContext

from .schemas import schema_text
from .settings import MAX_BATCH_EVENTS, Settings

log = logging.getLogger("collector.sink")


class KafkaSink:
    def __init__(self, settings: Settings, on_delivered: Callable[[int], None],
                 on_failed: Callable[[str], None]) -> None:
        self.settings = settings
        self._on_delivered = on_delivered
        self._on_failed = on_failed
        self._registry = SchemaRegistryClient({"url": settings.schema_registry_url})
        self._schema = Schema(schema_text(), "AVRO")
        self._serializer = AvroSerializer(self._registry, schema_text(), conf={
            "auto.register.schemas": False, "use.latest.version": False, "normalize.schemas": False,
            # `<topic>-value`, as datagen's converter and the stack name it (no association look-ups).
            "subject.name.strategy": topic_subject_name_strategy,
        })
        self._context = SerializationContext(settings.topic, MessageField.VALUE)
        self.producer = Producer({
            "bootstrap.servers": settings.bootstrap_servers,
            "client.id": "clickstreamer-collector",
            "enable.idempotence": True,  # acks=all, retries without duplicates or reordering
            "linger.ms": settings.linger_ms,
            "compression.type": "lz4",
            # Our bound is queue_size; librdkafka's is larger by one batch so that a batch that
            # passed our check can never meet BufferError half-way.
            "queue.buffering.max.messages": settings.queue_size + MAX_BATCH_EVENTS,
            "queue.buffering.max.kbytes": 1_048_576,
            "message.timeout.ms": settings.delivery_timeout_seconds * 1000,
        })
        self.schema_id: Optional[int] = None
        self.broker_seen = False
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # produce() of one request's events is not interleaved
        self._thread = threading.Thread(target=self._serve, name="collector-kafka", daemon=True)
        self._thread.start()

    # --- readiness --------------------------------------------------------------------------------------

    def resolve_schema(self) -> bool:
        """Look the schema up (once found, the serializer keeps its id). False while it is missing."""
        if self.schema_id is not None:
            return True
        try:
            registered = self._registry.lookup_schema(self.settings.subject, self._schema)
        except Exception as exc:  # the registry away, or the stack has not registered v2 yet
            log.warning("schema %s not available yet: %s", self.settings.subject, exc)
            return False
        self.schema_id = registered.schema_id.id if hasattr(registered.schema_id, "id") else registered.schema_id
        return True

    @property
    def ready(self) -> bool:
        return self.schema_id is not None and self.broker_seen

    def queue_depth(self) -> int:
        return len(self.producer)

    # --- producing --------------------------------------------------------------------------------------

    def offer(self, records: list[tuple[str, dict[str, Any]]]) -> bool:
        """Produce every (key, record) or none: False when they do not fit in the queue."""
        values = [(key.encode(), self._serializer(record, self._context), record["event_time"])
                  for key, record in records]
        with self._lock:
            if len(self.producer) + len(values) > self.settings.queue_size:
                return False
            for key, value, timestamp in values:
                self.producer.produce(self.settings.topic, value=value, key=key, timestamp=timestamp,
                                      on_delivery=self._delivered)
        return True

    def _delivered(self, err: Optional[KafkaError], msg: Any) -> None:
        if err is None:
            self._on_delivered(1)
        else:
            log.error("event not delivered: %s", err)
            self._on_failed(err.name() if hasattr(err, "name") else str(err))

    def _serve(self) -> None:
        next_check = 0.0
        while not self._stopping.is_set():
            self.producer.poll(0.1)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 2.0
                try:
                    self.producer.list_topics(self.settings.topic, timeout=1.0)
                    self.broker_seen = True
                except Exception:
                    self.broker_seen = False
                if self.schema_id is None:
                    self.resolve_schema()

    def close(self, timeout: float) -> int:
        """Stop serving and flush; the number of events still undelivered after `timeout`."""
        self._stopping.set()
        self._thread.join(5)
        return self.producer.flush(timeout)
