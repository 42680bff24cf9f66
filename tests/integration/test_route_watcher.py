"""The router side: a RouteWatcher keeps a RoutingTable equal to what the REST API shows, live and across a NATS
restart (KV watchers die with the server; the watcher starts a new one and swaps in a full snapshot)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from litestar.testing import TestClient

from projections.watch import RouteWatcher
from service.publish.nats_embedded import EmbeddedNatsServer
from service.settings import Settings
from tests.clients import api_client

BASE = {
    "provider": "twilio",
    "public_base_url": "https://voice.example.com",
    "twilio_account_sid": "AC" + "2" * 32,
    "twilio_auth_token": "token-abcdefgh",
}


async def eventually(condition, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def rest_routes(client: TestClient) -> dict[str, tuple[str, str | None, str | None]]:
    return {
        e["phone_number"]: (e["id"], e["inbound_agent_name"], e["inbound_webhook_url"])
        for e in client.get("/api/settings/endpoints").json()
    }


def table_routes(watcher: RouteWatcher) -> dict[str, tuple[str, str | None, str | None]]:
    return {n: (r.endpoint_id, r.inbound_agent_name, r.inbound_webhook_url) for n, r in watcher.table.routes.items()}


def test_watcher_follows_changes_live_and_survives_a_nats_restart(settings: Settings, nats_server) -> None:
    changes: list[str] = []
    configured = replace(settings, nats_url=nats_server.url, poll_interval=0.2)
    with api_client(configured) as client:
        client.put("/api/settings/telephony", json=BASE)
        first = client.post(
            "/api/settings/endpoints",
            json={"phone_number": "+15551110001", "provider": "twilio", "inbound_agent_name": "support"},
        ).json()

        async def scenario() -> None:
            watcher = RouteWatcher(nats_server.url, on_change=lambda key, _value: changes.append(key))
            await watcher.start()
            try:
                await eventually(lambda: table_routes(watcher) == rest_routes(client), what="initial routes")
                assert watcher.table.lookup("+1 (555) 111-0001").endpoint_id == first["id"]

                second = client.post(
                    "/api/settings/endpoints",
                    json={"phone_number": "+15551110002", "provider": "twilio", "inbound_agent_name": "sales"},
                ).json()
                await eventually(lambda: "+15551110002" in watcher.table.routes, what="a live create")
                client.put(f"/api/settings/endpoints/{first['id']}", json={"inbound_agent_name": "support-v2"})
                await eventually(
                    lambda: watcher.table.routes["+15551110001"].inbound_agent_name == "support-v2",
                    what="a live update",
                )

                nats_server.kill()
                client.delete(f"/api/settings/endpoints/{second['id']}")  # written while NATS is down
                restarted = EmbeddedNatsServer(nats_server.store_dir, port=nats_server.port).start()
                try:
                    await eventually(lambda: watcher.snapshots >= 2, what="a fresh snapshot after reconnect")
                    client.put("/api/settings/telephony", json={"public_base_url": "https://moved.example.com"})
                    await eventually(
                        lambda: table_routes(watcher) == rest_routes(client),
                        timeout=30,
                        what="routes equal to the REST API after the restart",
                    )
                    assert watcher.table.lookup("+15551110002") is None
                    assert watcher.table.routes["+15551110001"].inbound_webhook_url == (
                        "https://moved.example.com/telephony/twilio/inbound/support-v2"
                    )
                    assert watcher.table.provider is not None
                    assert watcher.table.provider.public_base_url == "https://moved.example.com"
                finally:
                    restarted.stop()
            finally:
                await watcher.stop()

        asyncio.run(scenario())
    assert "routes.15551110002" in changes  # the callback saw the live changes


async def fold_stream(url: str, table, stop: asyncio.Event) -> None:
    """A router that consumes the stream itself (an ordered consumer from the first message)."""
    import nats
    from nats.js.api import DeliverPolicy

    from events import wire

    nc = await nats.connect(url, connect_timeout=3)
    try:
        while True:
            try:
                sub = await nc.jetstream().subscribe(
                    wire.STREAM_SUBJECTS, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
                )
                break
            except Exception:  # the stream does not exist until the service has started
                await asyncio.sleep(0.1)
        while not stop.is_set():
            try:
                message = await sub.next_msg(timeout=0.2)
            except Exception:
                continue
            table.apply_message(message.subject, message.data)
    finally:
        await nc.close()


def test_stream_subscribers_started_before_and_after_the_changes_end_with_the_rest_routes(
    settings: Settings, nats_server
) -> None:
    from projections.routing import RoutingTable

    configured = replace(settings, nats_url=nats_server.url, poll_interval=0.2)
    early, late = RoutingTable(), RoutingTable()

    async def scenario(client: TestClient) -> None:
        stop = asyncio.Event()
        early_task = asyncio.create_task(fold_stream(nats_server.url, early, stop))
        await asyncio.sleep(0.3)
        client.put("/api/settings/telephony", json=BASE)
        ids = [
            client.post(
                "/api/settings/endpoints",
                json={"phone_number": f"+1555333{i:04d}", "provider": "twilio", "inbound_agent_name": f"a{i}"},
            ).json()["id"]
            for i in range(6)
        ]
        client.put(f"/api/settings/endpoints/{ids[0]}", json={"inbound_agent_name": "renamed", "is_active": False})
        client.delete(f"/api/settings/endpoints/{ids[1]}")
        client.put("/api/settings/telephony", json={"public_base_url": "https://moved.example.com/x"})
        late_task = asyncio.create_task(fold_stream(nats_server.url, late, stop))
        expected = rest_routes(client)

        def folded(table) -> dict:
            return {n: (r.endpoint_id, r.inbound_agent_name, r.inbound_webhook_url) for n, r in table.routes.items()}

        try:
            await eventually(lambda: folded(early) == expected and folded(late) == expected, what="both folds")
        finally:
            stop.set()
            await asyncio.gather(early_task, late_task)

    with api_client(configured) as client:
        asyncio.run(scenario(client))
    assert early.routes["+15553330000"].is_active is False
    assert early.routes == late.routes


def test_subscribers_and_a_kv_watcher_agree_with_rest_through_a_nats_outage_and_a_service_restart(
    tmp_path, nats_server
) -> None:
    # About NATS, not storage: SQLite only (the storage-independent relay paths run on both backends above).
    from projections.routing import RoutingTable

    configured = Settings(data_dir=tmp_path, nats_url=nats_server.url, poll_interval=0.2)
    early, late = RoutingTable(), RoutingTable()

    def create(client: TestClient, number: str, agent: str) -> str:
        body = {"phone_number": number, "provider": "twilio", "inbound_agent_name": agent}
        return client.post("/api/settings/endpoints", json=body).json()["id"]

    async def scenario() -> None:
        stop = asyncio.Event()
        early_task = asyncio.create_task(fold_stream(nats_server.url, early, stop))
        with api_client(configured) as first:
            first.put("/api/settings/telephony", json=BASE)
            doomed = create(first, "+15554440001", "one")
            create(first, "+15554440002", "two")
        watcher = await RouteWatcher(nats_server.url).start()
        try:
            nats_server.kill()  # an outage, then the service restarts while NATS is still down
            with api_client(configured) as second:
                second.delete(f"/api/settings/endpoints/{doomed}")
                create(second, "+15554440003", "three")
                restarted = EmbeddedNatsServer(nats_server.store_dir, port=nats_server.port).start()
                try:
                    create(second, "+15554440004", "four")
                    late_task = asyncio.create_task(fold_stream(nats_server.url, late, stop))
                    expected = rest_routes(second)
                    assert set(expected) == {"+15554440002", "+15554440003", "+15554440004"}

                    def agree() -> bool:
                        tables = [table_routes(watcher), *(_folded(t) for t in (early, late))]
                        return all(table == expected for table in tables)

                    await eventually(agree, timeout=45, what="stream folds and KV watcher equal to REST")
                finally:
                    stop.set()
                    await asyncio.gather(early_task, late_task)
                    restarted.stop()
        finally:
            await watcher.stop()

    asyncio.run(scenario())


def _folded(table) -> dict:
    return {n: (r.endpoint_id, r.inbound_agent_name, r.inbound_webhook_url) for n, r in table.routes.items()}
