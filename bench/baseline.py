"""The floors: bare Litestar apps served by the same ASGI server with the same settings as ``serve``
(uvicorn, one process, uvloop + httptools, no access log).

``get``  -- the same paths as the service's GET routes, returning the very JSON the service returned (decoded once
            from a fixture into the same ``EndpointOut`` structs, encoded by Litestar on every request); no auth,
            no middleware, no read model.
``post`` -- ``POST /api/settings/endpoints`` with the same body type and the same normalisation (E.164), one plain
            INSERT into a table (SQLite in WAL mode like the event store, or PostgreSQL through a connection pool
            sized like the store's), and the same 201 answer with ``Location``. No events, no read model.

Run as ``python -m bench.baseline get --port N --fixture F`` or ``... post --port N --database-url URL``.
"""

from __future__ import annotations

import argparse
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import msgspec
import uvicorn
from litestar import Litestar, Response, get, post
from litestar.params import Body, QueryParameter

from service.http.schemas import EndpointCreate, EndpointOut, present_fields
from service.write.commands import new_endpoint

BASE = "/api/settings/endpoints"


@get("/ready", sync_to_thread=False)
def ready() -> dict[str, str]:
    return {"status": "ready"}


def get_app(fixture: Path) -> Litestar:
    data = msgspec.json.decode(fixture.read_bytes())
    one = msgspec.convert(data["one"], EndpointOut)
    page = msgspec.convert(data["page"], list[EndpointOut])
    total = str(data["total"])

    @get(BASE + "/{endpoint_id:str}", sync_to_thread=False)
    async def get_endpoint(endpoint_id: str) -> EndpointOut:
        return one

    @get(BASE, sync_to_thread=False)
    async def list_endpoints(
        page_number: Annotated[int | None, QueryParameter(query="page", ge=1)] = None,
        page_size: Annotated[int | None, QueryParameter(ge=1, le=500)] = None,
    ) -> Response[list[EndpointOut]]:
        return Response(page, headers={"X-Total-Count": total})

    return Litestar([ready, get_endpoint, list_endpoints], logging_config=None)


SCHEMA = """CREATE TABLE IF NOT EXISTS endpoints (
    id TEXT PRIMARY KEY, phone_number TEXT NOT NULL UNIQUE, provider TEXT NOT NULL, inbound_agent_name TEXT,
    outbound_agent_name TEXT, label TEXT, is_active BOOLEAN NOT NULL, created_at TEXT NOT NULL)"""
INSERT = "INSERT INTO endpoints VALUES ({0}, {0}, {0}, {0}, {0}, {0}, {0}, {0})"


class SqliteTable:
    def __init__(self, path: str) -> None:
        self.path = path
        self.local = threading.local()
        self.insert = INSERT.format("?")
        self.connection().execute(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            self.local.conn = conn
        return conn

    def add(self, row: tuple) -> None:
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            conn.execute(self.insert, row)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


class PostgresTable:
    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        self.pool = ConnectionPool(url, min_size=10, max_size=40, open=True)
        self.insert = INSERT.format("%s")

    def add(self, row: tuple) -> None:
        with self.pool.connection() as conn:
            conn.execute(self.insert, row)


def post_app(database_url: str) -> Litestar:
    if database_url.startswith("sqlite:///"):
        table: SqliteTable | PostgresTable = SqliteTable(database_url[len("sqlite:///") :])
    else:
        table = PostgresTable(database_url)

    @post(BASE, sync_to_thread=True, status_code=201)
    def create_endpoint(data: Annotated[EndpointCreate, Body()]) -> Response[EndpointOut]:
        command = new_endpoint(**present_fields(data))
        endpoint_id = str(uuid.uuid4())
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        table.add(
            (
                endpoint_id,
                command.phone_number,
                command.provider,
                command.inbound_agent_name,
                command.outbound_agent_name,
                command.label,
                command.is_active,
                now,
            )
        )
        body = EndpointOut(
            id=endpoint_id,
            phone_number=command.phone_number,
            provider=command.provider,
            inbound_agent_name=command.inbound_agent_name,
            outbound_agent_name=command.outbound_agent_name,
            label=command.label,
            is_active=command.is_active,
            created_at=now,
            updated_at=now,
            inbound_webhook_url=None,
        )
        return Response(body, status_code=201, headers={"Location": f"{BASE}/{endpoint_id}"})

    return Litestar([ready, create_endpoint], logging_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("kind", choices=("get", "post"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fixture", type=Path)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    app = get_app(args.fixture) if args.kind == "get" else post_app(args.database_url)
    # The same call as ``telephony-settings serve`` makes (service/cli.py).
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
