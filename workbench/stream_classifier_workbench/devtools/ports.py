"""A free TCP port on 127.0.0.1, for the local processes the demo and the benchmarks start."""

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
