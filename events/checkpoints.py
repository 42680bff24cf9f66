"""The internal event that seals the notification log for tamper evidence (see ``service.write.chain``).

Stored topic: ``events.checkpoints:AuditCheckpoint``. Do not move or rename. Checkpoints are kept in their own table
(beside the events, never in the notification log), as the events of one aggregate with the id ``CHECKPOINT_ID``.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import DomainEvent

CHECKPOINT_ID = UUID("5e771e65-7e1e-4a0e-9000-0000000000c0")
"""The id of the one checkpoint aggregate."""


class AuditCheckpoint(DomainEvent):
    """Internal: the events at positions ``previous_position < p <= position`` were exactly these.

    ``digest`` is the hex SHA-256 over the previous checkpoint's digest and, for each of those events in log order,
    its position, aggregate id, version and chain hash; ``heads`` maps each aggregate the range touched to its last
    ``[version, chain hash hex]`` in the range, so that a deleted last event can be named. Not published.
    """

    previous_position: int
    position: int
    count: int
    digest: str
    heads: dict[str, list[int | str]]
