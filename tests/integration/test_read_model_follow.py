"""Read-your-writes without reading back: a command's saved events are folded as they are when they directly follow
the view, and the store is read when something else was written in between. Either way the view equals a rebuild."""

from __future__ import annotations

from typing import Any

from service.container import Container
from service.read.read_model import ReadModel
from service.settings import Settings
from service.write.application import SettingsApplication
from service.write.commands import Actor, NewEndpoint, PatchEndpoint, UpdateProvider
from tests.seed import TWILIO_SID

ACTOR = Actor(name="tester", request_id="r-1")
PROVIDER = {
    "public_base_url": "https://voice.example.com",
    "twilio_account_sid": TWILIO_SID,
    "twilio_auth_token": "secret-token-1234",
}


class CountingReads:
    """Counts the read model's reads of the notification log (the store itself is real)."""

    def __init__(self, app: SettingsApplication) -> None:
        self.calls = 0
        original = app.recorder.select_notifications

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        app.recorder.select_notifications = counted  # type: ignore[method-assign]


def _views_equal(left: ReadModel, right: ReadModel) -> None:
    with left.reading() as a, right.reading() as b:
        assert a.position == b.position
        assert a.endpoints.by_id == b.endpoints.by_id
        assert a.endpoints.by_phone_number == b.endpoints.by_phone_number
        assert a.provider == b.provider


def test_a_commands_own_events_are_folded_without_reading_the_store(container: Container) -> None:
    app, read_model = container.app, container.read_model
    reads = CountingReads(app)
    held = []  # the read model's position when each command is answered

    def handled(receipt: Any) -> Any:
        held.append((read_model.position, receipt.position))
        return receipt

    receipts = [handled(app.handle_update_provider(UpdateProvider(PROVIDER), ACTOR))]
    for i in range(5):
        command = NewEndpoint(phone_number=f"+1555123400{i}", provider="twilio", label=f"line {i}")
        receipts.append(handled(app.handle_create_endpoint(command, ACTOR)))
    rename = PatchEndpoint(receipts[1].resource_id, {"label": "renamed"})
    receipts.append(handled(app.handle_update_endpoint(rename, ACTOR)))
    receipts.append(handled(app.handle_delete_endpoint(receipts[2].resource_id, ACTOR)))

    # The writer folds what it stored before it answers: the view already holds each command's own change.
    assert all(view_position == position for view_position, position in held), held
    for receipt in receipts:
        assert read_model.follow(receipt.saved, receipt.position) == receipts[-1].position
    assert reads.calls == 0
    rebuilt = ReadModel(app)
    rebuilt.catch_up()
    _views_equal(read_model, rebuilt)


def test_events_written_in_between_by_another_process_are_read_from_the_store(
    container: Container, settings: Settings
) -> None:
    other = SettingsApplication(settings.store_env())
    try:
        other.handle_create_endpoint(NewEndpoint(phone_number="+15551230000", provider="twilio"), ACTOR)
    finally:
        other.close()
    receipt = container.app.handle_create_endpoint(NewEndpoint(phone_number="+15551230001", provider="twilio"), ACTOR)

    container.read_model.follow(receipt.saved, receipt.position)

    with container.read_model.reading() as view:
        assert sorted(view.endpoints.by_phone_number) == ["+15551230000", "+15551230001"]
    rebuilt = ReadModel(container.app)
    rebuilt.catch_up()
    _views_equal(container.read_model, rebuilt)
