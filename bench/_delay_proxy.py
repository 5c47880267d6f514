"""A TCP proxy on loopback that delays every byte, to stand for a network link.

    python bench/_delay_proxy.py LISTEN_PORT TARGET_PORT RTT_MS

Each direction holds what it reads for half the round trip before writing it on, in order
and without limiting bandwidth: a reply reaches the client RTT_MS after its command left.
(These machines' kernel has no netem qdisc to do it with `tc`.) Prints "ready" once
listening; SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import signal
import sys


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def forward() -> None:
        while True:
            due, chunk = await held.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(chunk)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(forward())
    try:
        while chunk := await reader.read(65536):
            held.put_nowait((loop.time() + delay, chunk))
    finally:
        held.put_nowait((loop.time() + delay, b""))
        await sender


async def main() -> None:
    listen, target, rtt_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    delay = rtt_ms / 2000  # one way, in seconds

    async def connected(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(
            pump(client_r, server_w, delay), pump(server_r, client_w, delay), return_exceptions=True
        )

    server = await asyncio.start_server(connected, "127.0.0.1", listen)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
