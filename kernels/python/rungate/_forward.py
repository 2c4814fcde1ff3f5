"""The kernel's side of target forwarding in rungate's sandbox.

A sandboxed kernel has a network namespace of its own with only loopback. For each
target the gateway listens on a Unix socket in the kernel's runtime directory and
connects it to the target; here a thread per route listens on the loopback address
that the target's host name resolves to inside the sandbox, and passes each
connection to that socket. The gateway calls ``serve`` when it binds the kernel to a
session (again for every new set of routes). Standard library only.
"""

from __future__ import annotations

import socket
import threading
from typing import Dict, Iterable, List, Tuple

_BUFFER = 64 * 1024
_lock = threading.Lock()
_listeners: Dict[Tuple[str, int], socket.socket] = {}


def serve(routes: Iterable[dict]) -> List[Tuple[str, int]]:
    """Listens for every route ``{"listen": [ip, port], "socket": path}``; stops the others.

    Returns the addresses listened on. Raises OSError when one cannot be bound.
    """
    wanted = {(r["listen"][0], int(r["listen"][1])): r["socket"] for r in routes}
    with _lock:
        for addr in [a for a in _listeners if a not in wanted]:
            _listeners.pop(addr).close()
        for addr, path in wanted.items():
            old = _listeners.pop(addr, None)
            if old is not None:
                old.close()
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(addr)
            srv.listen(64)
            _listeners[addr] = srv
            threading.Thread(target=_accept, args=(srv, path), name=f"rungate-forward-{addr[0]}:{addr[1]}", daemon=True).start()
        return sorted(_listeners)


def _accept(srv: socket.socket, path: str) -> None:
    while True:
        try:
            client, _ = srv.accept()
        except OSError:
            return  # closed by serve()
        try:
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(path)
        except OSError:
            client.close()
            continue
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(_BUFFER)
            if not data:
                break
            dst.sendall(data)
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    except OSError:
        # One side failed: end both, so neither end waits forever.
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    finally:
        # Each socket is closed once both directions are done with it.
        _release(src)
        _release(dst)


_refs: Dict[int, int] = {}
_refs_lock = threading.Lock()


def _release(s: socket.socket) -> None:
    with _refs_lock:
        key = id(s)
        n = _refs.get(key, 0) + 1
        if n >= 2:
            _refs.pop(key, None)
            s.close()
        else:
            _refs[key] = n
