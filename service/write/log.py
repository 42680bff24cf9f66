"""Reading the store's notification log back: one batched reader and one decoder, for everything that follows the
log (the read model, the relay, the audit history, past states and checkpoints, the rebuild, the id migration).

* ``batches(recorder, after)``: the stored events after a position, in log order, ``BATCH_SIZE`` at a time. It
  resumes after the last position it returned (``inclusive_of_start=False``), never at ``last + 1``: PostgreSQL
  positions have gaps. ``notifications`` is the same, one event at a time.
* ``aggregate_notifications(recorder, aggregate_id)``: one aggregate's events with their positions, by the
  primary-key index (``write.store`` gives both recorders that query).
* ``LogDecoder``: notifications to domain events through the application's own mapper (and so its transcoder,
  cipher, chain and upcasters), decoding only the event types the caller reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification
from eventsourcing.utils import get_topic, resolve_topic

from events import PUBLIC_EVENT_TYPES

BATCH_SIZE = 1000


def batches(
    recorder: ApplicationRecorder,
    after: int = 0,
    *,
    topics: Sequence[str] = (),
    stop: int | None = None,
    size: int = BATCH_SIZE,
) -> Iterator[Sequence[Notification]]:
    """The stored events after position ``after`` (up to ``stop``; of ``topics`` only, when given), in batches."""
    position = after
    while True:
        batch = recorder.select_notifications(
            start=position, limit=size, stop=stop, topics=list(topics), inclusive_of_start=False
        )
        if batch:
            yield batch
        if len(batch) < size:
            return
        position = batch[-1].id


def notifications(
    recorder: ApplicationRecorder, after: int = 0, *, topics: Sequence[str] = (), stop: int | None = None
) -> Iterator[Notification]:
    """``batches``, one event at a time."""
    for batch in batches(recorder, after, topics=topics, stop=stop):
        yield from batch


def aggregate_notifications(recorder: ApplicationRecorder, aggregate_id: UUID) -> list[Notification]:
    """One aggregate's stored events with their positions, in version order."""
    return recorder.select_aggregate_notifications(aggregate_id)  # type: ignore[attr-defined]


class LogDecoder:
    """Decodes notifications with ``app.mapper``; only the types in ``wanted`` (all, when ``None``)."""

    def __init__(self, app: Any, wanted: Iterable[type] | None = None) -> None:
        self.to_domain_event = app.mapper.to_domain_event
        self._wanted = tuple(wanted) if wanted is not None else None
        self._reads: dict[str, bool] = {}

    def reads(self, notification: Notification) -> bool:
        """Whether the caller reads this notification's event (else it only advances a position)."""
        if self._wanted is None:
            return True
        topic = notification.topic
        known = self._reads.get(topic)
        if known is None:
            known = self._reads[topic] = issubclass(resolve_topic(topic), self._wanted)
        return known

    def decode(self, batch: Iterable[Notification]) -> list[tuple[int, Any]]:
        """(position, event) of every notification of ``batch`` the caller reads."""
        reads, decode = self.reads, self.to_domain_event
        return [(n.id, decode(n)) for n in batch if reads(n)]


def topics_of(*event_types: type) -> list[str]:
    return [get_topic(cls) for cls in event_types]


PUBLIC_TOPICS = topics_of(*PUBLIC_EVENT_TYPES)
"""The topics of the events other services see (the ones that make messages)."""


def public_after(recorder: ApplicationRecorder, after: int, upto: int | None = None) -> bool:
    """Whether the log holds a public event after position ``after`` (and up to ``upto``, when given): when it does
    not, nothing anyone sees changed in between."""
    if upto is not None and upto <= after:
        return False
    stop = {} if upto is None else {"stop": upto}
    found = recorder.select_notifications(start=after, limit=1, topics=PUBLIC_TOPICS, inclusive_of_start=False, **stop)
    return bool(found)
