"""One writer per application, with group commit.

Commands are queued (``Writer.submit`` returns a future) to one thread that owns writing. It takes everything
pending (up to ``MAX_BATCH`` commands), decides each in arrival order against the state it keeps in memory
(``write.memory``: the batch sees the changes of the commands before it in the batch), and stores the events of
every command that changes something in **one transaction**. Each command's future is answered after that
transaction committed, so an answered command is stored, and a command that fails to decide fails alone. Under
load a transaction carries many commands: the commit, and PostgreSQL's table lock, are paid once per batch.

Safety does not rest on the memory being current. The store's version constraint is the arbiter: a batch whose save
is refused (``IntegrityError``: another process wrote one of its aggregates, or recorded one of its keys) is
forgotten and each of its commands is decided again, alone, from the store. A decision that stores nothing (an
error such as 404, 409 or 412, or an unchanged resource) cannot be refused that way, so it is confirmed against the
store before it is answered. A failure of the store itself (e.g. the database is down) fails the batch's commands
with that error (503) and forgets what they touched: nothing half-stored, nothing answered as stored that is not.

Closing the writer stops new commands (``WriterStoppedError``, a 503), answers every command already queued, then
stops the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, PersistenceError

from events import SETTINGS_ID, IdempotencyKeyUsed
from service.write import change_sets
from service.write import decisions as domain
from service.write.commands import Actor, ChangeSet, DeleteEndpoint, NewEndpoint, PatchEndpoint, UpdateProvider
from service.write.conditions import Conditions, Receipt, SettingsChangedError
from service.write.errors import ConcurrentChangeError, SettingsError
from service.write.log import public_after
from service.write.memory import Kind, Memory, States

log = logging.getLogger("telephony_settings")

MAX_BATCH = 512
"""Commands per transaction at most."""
RECONNECTS = 10
"""Saves of one batch again after a dead connection (each attempt takes another from the pool)."""
MAX_ATTEMPTS = 50
"""Decisions of one command against concurrent writers before it gives up (409)."""

Command = NewEndpoint | PatchEndpoint | DeleteEndpoint | UpdateProvider | ChangeSet


class WriterStoppedError(PersistenceError):
    """The service is shutting down and takes no more changes (503); nothing was stored."""


@dataclass(eq=False)
class Job:
    """A queued command, who sent it, what it must check, and where its answer goes."""

    command: Command
    actor: Actor
    conditions: Conditions
    future: Future[Receipt] = field(default_factory=Future)
    new_id: UUID = field(default_factory=uuid4)
    """The id a created endpoint gets: chosen once, so deciding again does not change it."""


class _Defer(Exception):
    """Decide this command again after the batch (it depends on a change of the batch not yet stored)."""


class Writer:
    """The one thread that writes (see the module docstring)."""

    def __init__(
        self,
        app: Any,
        on_saved: Callable[[Sequence[tuple[int, Any]]], None] | None = None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._app = app
        self.memory = Memory(app)
        self._on_saved = on_saved
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="telephony-writer", daemon=True)
        self._thread.start()
        self.batches = 0
        """Transactions stored (for tests and metrics)."""
        self.commands_stored = 0
        """Commands whose changes those transactions stored: over ``batches``, the mean batch size."""

    def submit(self, command: Command, actor: Actor, conditions: Conditions) -> Future[Receipt]:
        job = Job(command, actor, conditions)
        with self._lock:
            if self._closed:
                raise WriterStoppedError("the service is shutting down and takes no more changes; try again")
            self._queue.put(job)
        return job.future

    def close(self, timeout: float | None = 30.0) -> None:
        """Take no more commands, answer those queued, stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            return
        # The thread is stuck in a batch (e.g. the store hangs): refuse what is still queued rather than leave it
        # waiting, and leave the stop signal for the thread.
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(WriterStoppedError("the service stopped before this change was stored"))
        self._queue.put(None)

    # -- the thread ---------------------------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < self._max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                jobs.append(job)
            running = [job for job in jobs if job.future.set_running_or_notify_cancel()]
            try:
                self._write_batch(running)
            except BaseException as exc:  # a bug: answer every command rather than leave one waiting
                log.exception("the writer failed")
                for job in running:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _write_batch(self, jobs: list[Job], refreshed: bool = False) -> None:
        """Decide ``jobs`` in order and store what they change in one transaction.

        First against the memory, taking unseen numbers and keys as unused; if the store refuses the transaction,
        once more after reading everything the batch touched from the store (``refreshed``); if it refuses again,
        each command alone (``_write_alone``).
        """
        if refreshed or len(jobs) > 1 or any(isinstance(job.command, ChangeSet) for job in jobs):
            self._prefetch(jobs, include_unseen=refreshed)
        states = States(self.memory, assume_unused=not refreshed)
        decided: list[tuple[Job, list[DomainEvent], Receipt]] = []
        later: list[Job] = []
        for job in jobs:
            if isinstance(job.command, ChangeSet) and job.command.dry_run:
                later.append(job)  # decided from the store, alone: it stores nothing
                continue
            try:
                outcome = self._decide(job, states)
            except (SettingsError, _Defer):
                later.append(job)  # confirmed against the store, after the batch
                continue
            except Exception as exc:
                job.future.set_exception(exc)
                continue
            if isinstance(outcome, Receipt):  # a replay of a stored key: the answer is already durable
                job.future.set_result(outcome)
                continue
            events, receipt = outcome
            if receipt.outcome == "unchanged":
                later.append(job)
                continue
            states.apply(events)
            decided.append((job, events, receipt))
        if decided and not self._store(decided, states):
            # Another process wrote one of these aggregates, or a number or key taken as unused was not.
            order = {id(job): i for i, job in enumerate(jobs)}
            unanswered = sorted([job for job, _, _ in decided] + later, key=lambda job: order[id(job)])
            if not refreshed:
                self._write_batch(unanswered, refreshed=True)
            else:
                for job in unanswered:
                    self._write_alone(job)
            return
        for job in later:
            self._write_alone(job)

    def _store(self, decided: list[tuple[Job, list[DomainEvent], Receipt]], states: States) -> bool:
        """Save the decided commands' events in one transaction and answer each: its receipt once stored, the
        store's error if the save failed. False, with nothing answered, when the store refused the versions
        (``IntegrityError``): the commands are to be decided again. Either way a failed save is forgotten."""
        try:
            recordings = self._save([event for _, events, _ in decided for event in events])
        except IntegrityError:
            self.memory.forget(states.touched)
            return False
        except Exception as exc:
            self.memory.forget(states.touched)
            for job, _, _ in decided:
                job.future.set_exception(exc)
            return True
        states.commit()
        self.commands_stored += len(decided)
        start = 0
        for job, events, receipt in decided:
            job.future.set_result(_stored(receipt, recordings[start : start + len(events)]))
            start += len(events)
        return True

    def _write_alone(self, job: Job) -> None:
        """Decide from the store and save this command by itself, again while others get in first."""
        for _ in range(MAX_ATTEMPTS):
            states = States(self.memory, fresh=True)
            if isinstance(job.command, ChangeSet):  # read all it needs in two queries, not one per item
                states.read_already(
                    change_sets.read_ahead(job.command, self.memory, self._app.ids, include_unseen=True, refresh=True)
                )
            try:
                outcome = self._decide(job, states)
            except SettingsError as exc:
                # A concurrent request with the same key may have committed between our look-up and the decision
                # (then its change is why this one fails, e.g. 409 on its number): answer with its receipt.
                replay = self._replay(job)
                if replay is not None:
                    job.future.set_result(replay)
                else:
                    job.future.set_exception(exc)
                return
            except Exception as exc:
                job.future.set_exception(exc)
                return
            if isinstance(outcome, Receipt):
                job.future.set_result(outcome)
                return
            events, receipt = outcome
            if not events:
                job.future.set_result(receipt)
                return
            states.apply(events)
            if self._store([(job, events, receipt)], states):
                return
        job.future.set_exception(ConcurrentChangeError("too many concurrent changes to the same settings; try again"))

    def _replay(self, job: Job) -> Receipt | None:
        request = job.conditions.idempotency
        if request is None:
            return None
        try:
            record = States(self.memory, fresh=True).idempotency(request)
        except SettingsError:
            return None
        return Receipt.of_record(record) if record is not None else None

    def _save(self, events: list[DomainEvent]) -> list[Any]:
        recordings = self._save_reconnecting(events)
        self.batches += 1
        if self._on_saved is not None and recordings:
            try:
                self._on_saved(tuple((r.notification.id, r.domain_event) for r in recordings))
            except Exception:
                log.exception("a listener of stored changes failed")  # the change is stored: still answer it
        return recordings  # type: ignore[no-any-return]

    def _save_reconnecting(self, events: list[DomainEvent]) -> list[Any]:
        """Save, again on another connection when the one used was dead and the transaction did not happen.

        A database that restarted leaves the pool's connections dead; the first use of each fails. The pool does
        not check a connection before lending it (a round trip per transaction), so a failure here is retried once
        the store shows the transaction did not commit (the batch's first event is not there). If it is there (the
        connection died during the commit), the error stands: the client gets 503, as for any unknown outcome.
        """
        for attempt in range(RECONNECTS + 1):
            try:
                return self._app.save(*events)  # type: ignore[no-any-return]
            except (OperationalError, InterfaceError):
                if attempt == RECONNECTS or self._stored(events[0]):
                    raise
                log.info("store connection lost; saving the batch again on another connection")
        raise AssertionError("unreachable")

    def _stored(self, event: DomainEvent) -> bool:
        version = event.originator_version
        try:
            found = self._app.recorder.select_events(event.originator_id, gt=version - 1, lte=version)
        except PersistenceError:
            return True  # cannot tell: keep the error
        return bool(found)

    def _prefetch(self, jobs: list[Job], include_unseen: bool) -> None:
        """Read what the batch needs and the memory lacks, in one query (and one more for deleted numbers).

        Numbers to claim and keys to record are read only with ``include_unseen``: otherwise they are taken as unused.
        """
        ids = self._app.ids
        wanted: dict[UUID, Kind] = {}
        for job in jobs:
            command = job.command
            if isinstance(command, ChangeSet):
                change_sets.read_ahead(command, self.memory, ids, include_unseen=include_unseen, refresh=False)
            elif isinstance(command, NewEndpoint):
                if include_unseen:
                    wanted[ids.phone_number_index(command.phone_number)] = "index"
            elif isinstance(command, PatchEndpoint | DeleteEndpoint):
                wanted[command.endpoint_id] = "endpoint"
            request = job.conditions.idempotency
            if request is not None and include_unseen:
                wanted[ids.idempotency(request.actor, request.key)] = "key"
        self.memory.prefetch(wanted)
        numbers: dict[UUID, Kind] = {}
        for job in jobs:
            if isinstance(job.command, DeleteEndpoint):
                endpoint = self.memory.get(job.command.endpoint_id, "endpoint")
                if endpoint is not None:
                    numbers[ids.phone_number_index(endpoint.phone_number)] = "index"
        self.memory.prefetch(numbers)

    # -- deciding -----------------------------------------------------------------------------------------------

    def _decide(self, job: Job, states: States) -> Receipt | tuple[list[DomainEvent], Receipt]:
        """A replay's receipt, or the command's events (its key's record included) and receipt."""
        request = job.conditions.idempotency
        if request is not None:
            if states.key_pending(request):
                raise _Defer
            record = states.idempotency(request)
            if record is not None:
                return Receipt.of_record(record)
        events, receipt = self._decide_command(job, states)
        if request is not None:
            events = [*events, self._key_event(job, receipt)]
        return events, receipt

    def _decide_command(self, job: Job, states: States) -> tuple[list[DomainEvent], Receipt]:
        command, actor, conditions = job.command, job.actor, job.conditions
        idempotent = conditions.idempotency is not None
        if isinstance(command, ChangeSet):
            return self._decide_change_set(command, actor, states)
        if isinstance(command, NewEndpoint):
            events = domain.decide_create_endpoint(job.new_id, states.index(command.phone_number), command, actor)
            provider_version = states.provider().version if idempotent else 0
            return events, Receipt("created", job.new_id, 1, provider_version)
        if isinstance(command, PatchEndpoint):
            endpoint = self._checked_endpoint(command.endpoint_id, conditions, states)
            events = domain.decide_update_endpoint(endpoint, command, actor)
            assert endpoint is not None
            version = events[-1].originator_version if events else endpoint.version
            provider_version = states.provider().version if idempotent else 0
            return events, Receipt("updated" if events else "unchanged", endpoint.id, version, provider_version)
        if isinstance(command, DeleteEndpoint):
            endpoint = self._checked_endpoint(command.endpoint_id, conditions, states)
            index = states.index(endpoint.phone_number) if endpoint is not None else domain.PhoneNumberIndex()
            events = domain.decide_delete_endpoint(command.endpoint_id, endpoint, index, actor)
            return events, Receipt("deleted", command.endpoint_id, events[0].originator_version, 0)
        current = states.provider()
        conditions.check((current.version,), "telephony settings")
        events = domain.decide_update_provider(current, command, actor)
        version = events[-1].originator_version if events else current.version
        return events, Receipt("updated" if events else "unchanged", SETTINGS_ID, version, version)

    def _decide_change_set(self, command: ChangeSet, actor: Actor, states: States) -> tuple[list[DomainEvent], Receipt]:
        if command.since is not None:
            if states.pending:
                raise _Defer  # a command before it in this batch may change a setting: check once that is stored
            self._check_unchanged_since(command.since)
        events, answer = change_sets.decide(command, actor, states)
        outcome = "updated" if events and not command.dry_run else "unchanged"
        return ([] if command.dry_run else events), Receipt(outcome, command.id, 0, 0, answer=answer)

    def _check_unchanged_since(self, since: int) -> None:
        """412 unless no setting changed after the store position ``since``. The writer is this process's only one,
        so nothing of this process is stored between this check and the save; a change of another replica in that
        moment either touches an aggregate of the change set (the save is refused and the check made again) or
        none (the change set did not build on it)."""
        recorder = self._app.recorder
        current = recorder.max_notification_id() or 0
        if since > current:
            raise SettingsChangedError(
                f"If-Match names settings version {since}, which these settings never had: read them again", current
            )
        if public_after(recorder, since):
            raise SettingsChangedError(
                f"the settings changed since version {since}: read them again (X-Settings-Version) and resend",
                current,
            )

    @staticmethod
    def _checked_endpoint(endpoint_id: UUID, conditions: Conditions, states: States) -> Any:
        endpoint = states.endpoint(endpoint_id)
        if endpoint is not None and conditions.if_match is not None:
            conditions.check((endpoint.version, states.provider().version), "endpoint")
        return endpoint

    def _key_event(self, job: Job, receipt: Receipt) -> IdempotencyKeyUsed:
        request = job.conditions.idempotency
        assert request is not None
        return IdempotencyKeyUsed(
            originator_id=self._app.ids.idempotency(request.actor, request.key),
            originator_version=1,
            timestamp=DomainEvent.create_timestamp(),
            actor=job.actor.name,
            request_id=job.actor.request_id,
            fingerprint=request.fingerprint,
            outcome=receipt.outcome,
            resource_id=receipt.resource_id,
            resource_version=receipt.resource_version,
            provider_version=receipt.provider_version,
            answer=receipt.answer,
        )


def _stored(receipt: Receipt, recordings: Sequence[Any]) -> Receipt:
    saved = tuple((r.notification.id, r.domain_event) for r in recordings)
    return replace(receipt, position=saved[-1][0], saved=saved)
