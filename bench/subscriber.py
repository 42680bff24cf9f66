"""A plain nats-py JetStream reader in a process of its own, for the ``changeset`` scenario:

    python -m bench.subscriber --nats-url URL --count 10000

It waits for the service's stream, subscribes an ordered consumer (new messages only) to ``telephony.settings.>``,
prints ``READY`` once the consumer exists, then notes the arrival (``time.monotonic()``: the same clock in every
process of the machine) of each ``...created`` message until ``--count`` of them have arrived, or nothing arrived for
``--idle`` seconds after the first, or ``--timeout`` seconds passed. It prints one ``BENCH_JSON {...}`` line, with
also when the stream stored the first and the last of them (on the same clock).

A process of its own so that decoding 10,000 messages takes no time from the client timing the POST.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time


async def _read(nats_url: str, count: int, timeout: float, idle: float) -> dict[str, object]:
    import nats
    from nats.js.api import DeliverPolicy
    from nats.js.errors import NotFoundError

    from events import wire

    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        deadline = time.monotonic() + 60
        while True:  # the relay creates the stream when it connects
            try:
                await js.stream_info(wire.STREAM)
                break
            except NotFoundError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        created: dict[str, float] = {}
        change_sets: set[str] = set()
        others = 0
        done = asyncio.Event()
        edges: list = [None, None]  # the first and the last message that arrived

        async def on_message(msg) -> None:  # type: ignore[no-untyped-def]
            nonlocal others
            arrived = time.monotonic()
            if not msg.subject.endswith(".created"):
                others += 1
                return
            if msg.subject not in created:
                created[msg.subject] = arrived
                edges[0 if len(created) == 1 else 1] = msg
            change_sets.add((msg.headers or {}).get(wire.HEADER_CHANGE_SET, ""))
            if len(created) >= count:
                done.set()

        sub = await js.subscribe(
            wire.STREAM_SUBJECTS,
            stream=wire.STREAM,
            cb=on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
        )
        print("READY", flush=True)
        ready = time.monotonic()
        while not done.is_set():
            now = time.monotonic()
            last = max(created.values(), default=None)
            if now - ready > timeout or (last is not None and now - last > idle):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=0.2)
        await sub.unsubscribe()
        arrivals = sorted(created.values())
        # When the stream stored the first and the last message (nats-server's clock, the wall clock of this
        # machine), on the monotonic clock: tells the relay's publishing from the delivery to this reader.
        offset = time.monotonic() - time.time()
        stored = [None if msg is None else msg.metadata.timestamp.timestamp() + offset for msg in edges]
        if stored[1] is None:
            stored[1] = stored[0]
        return {
            "created": len(arrivals),
            "first": arrivals[0] if arrivals else None,
            "last": arrivals[-1] if arrivals else None,
            "first_stored": stored[0],
            "last_stored": stored[1],
            "change_sets": sorted(change_sets),
            "other_messages": others,
            "complete": len(arrivals) >= count,
        }
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.subscriber")
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--count", type=int, required=True, help="stop once this many ...created messages arrived")
    parser.add_argument("--timeout", type=float, default=90.0, help="give up this long after READY")
    parser.add_argument("--idle", type=float, default=10.0, help="give up when nothing arrived this long")
    args = parser.parse_args()
    result = asyncio.run(_read(args.nats_url, args.count, args.timeout, args.idle))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
