"""A tiny loopback round-robin TCP proxy: one port in front of several HTTP servers, one connection to each in turn
(Slack opens a connection per delivery, and so does the load generator: each request goes to the next replica).
It stands in for docker-compose.yml's nginx.

    python bench/proxy.py 127.0.0.1:PORT_A 127.0.0.1:PORT_B     (prints the port it listens on, then serves)
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import sys
import threading


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((sink, socket.SHUT_WR), (source, socket.SHUT_RD)):
            with contextlib.suppress(OSError):
                sock.shutdown(how)


def _relay(client: socket.socket, backend: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(backend)
    except OSError:
        client.close()
        return
    for sock in (client, upstream):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


def main(argv: list[str]) -> int:
    backends = [(host, int(port)) for host, _, port in (a.rpartition(":") for a in argv)]
    turns = itertools.cycle(backends)
    listener = socket.create_server(("127.0.0.1", 0), backlog=512)
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_relay, args=(client, next(turns)), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
