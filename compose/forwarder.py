"""Publish ports of the cluster's namespaces on the host's loopback, without the host ever dialing
the cluster subnet.

`python -m compose.forwarder 127.0.0.1:8080=casty-alb:80 127.0.0.1:8100=casty-node0:8000 ...`
listens on each host address and, for every connection, opens a socket *inside* the named network
namespace (setns(2) on this thread, then back) and connects it to that namespace's own loopback
at the given port. The bytes therefore travel host loopback -> namespace loopback: nothing leaves
by the cluster bridge, and the host needs no address or route in the cluster subnet (the guard
drops any packet the host would send there).

Limits: one process and one core for every published port, so it adds a little latency under
heavy load; a connection refused inside the namespace closes the client's connection at once,
as docker-proxy does. It exits by itself once the namespace named by `--watch` is gone, so a
runner killed mid-teardown cannot leave it listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("compose.forwarder")
NETNS_DIR = Path("/run/netns")


@dataclass(frozen=True)
class Route:
    """One published port: where it listens on the host and where it leads inside a namespace."""

    host_ip: str
    host_port: int
    netns: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Route:
        """`host_ip:host_port=netns:port`, as the runner writes it."""
        listen, _, target = text.partition("=")
        host_ip, _, host_port = listen.rpartition(":")
        netns, _, port = target.rpartition(":")
        if not (host_ip and host_port and netns and port):
            raise ValueError(f"route {text!r}: expected host_ip:host_port=netns:port")
        return cls(host_ip, int(host_port), netns, int(port))


def socket_in(netns: str) -> socket.socket:
    """A TCP socket that lives in network namespace `netns` (the calling thread comes back)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        # The namespace file is opened per socket and closed at once: a descriptor kept open would
        # keep a deleted namespace, and its veth, alive.
        target = os.open(NETNS_DIR / netns, os.O_RDONLY)
        try:
            os.setns(target, os.CLONE_NEWNET)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                os.setns(home, os.CLONE_NEWNET)
        finally:
            os.close(target)
    finally:
        os.close(home)
    # Each chunk read from the client goes out at once. asyncio sets TCP_NODELAY only on sockets
    # made with proto IPPROTO_TCP, and this one has proto 0: without it, Nagle held a request's
    # body until the node acknowledged its headers, which the node delays by 40 ms (delayed ACK),
    # so a POST straight at a node took 44 ms instead of 3.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _serve(
    route: Route, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
) -> None:
    try:
        sock = socket_in(route.netns)
    except OSError as error:
        log.warning(
            "forwarder: namespace %s unavailable (%s); closing the client", route.netns, error
        )
        client_writer.close()
        return
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", route.port))
        server_reader, server_writer = await asyncio.open_connection(sock=sock)
    except OSError:
        sock.close()
        client_writer.close()
        return
    await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
    for writer in (server_writer, client_writer):
        with contextlib.suppress(OSError):
            writer.close()


async def run(routes: list[Route], watch: str | None) -> None:
    """Serve every route until SIGTERM/SIGINT, or until the watched namespace disappears."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    servers = []
    for route in routes:

        async def handle(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, route: Route = route
        ) -> None:
            await _serve(route, reader, writer)

        servers.append(await asyncio.start_server(handle, route.host_ip, route.host_port))
        log.info(
            "forwarder: %s:%d -> %s:%d", route.host_ip, route.host_port, route.netns, route.port
        )
    while not stop.is_set():
        if watch is not None and not (NETNS_DIR / watch).exists():
            log.info("forwarder: namespace %s is gone; stopping", watch)
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m compose.forwarder", description=__doc__)
    parser.add_argument("routes", nargs="+", help="host_ip:host_port=netns:port")
    parser.add_argument("--watch", help="exit once /run/netns/WATCH no longer exists")
    parser.add_argument("--pidfile", type=Path, help="write this process's id here first")
    args = parser.parse_args()
    if args.pidfile is not None:
        args.pidfile.write_text(f"{os.getpid()}\n")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run([Route.parse(text) for text in args.routes], args.watch))


if __name__ == "__main__":
    main()
