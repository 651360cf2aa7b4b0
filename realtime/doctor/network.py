"""The doctor's checks of what a show takes from the network: its ports (bound with real sockets,
as the show binds them) and the checkpoints already downloaded (a show that needs no network)."""

from __future__ import annotations

import socket

from ..choices import PAGE_PORT
from .report import Finding


def check_osc_port(port: int) -> Finding:
    """The OSC port, bound as UDP on all addresses as the server binds it."""
    if port == 0:
        return Finding("OSC port", "ok", "UDP: any free port (0)")
    problem = bind_problem(socket.SOCK_DGRAM, "0.0.0.0", port)
    if problem is None:
        return Finding("OSC port", "ok", f"UDP {port} free")
    other = free_port_near(socket.SOCK_DGRAM, "0.0.0.0", port)
    return Finding("OSC port", "degraded", f"UDP {port} in use ({problem}): the show needs another",
                   fix=f"stylevj run --osc-port {other}" if other else "stylevj run --no-osc")


def check_page_port(port: int) -> Finding:
    """The operator page's port, bound as TCP on 127.0.0.1."""
    if port == 0:
        return Finding("page port", "ok", "TCP: any free port (0)")
    problem = bind_problem(socket.SOCK_STREAM, "127.0.0.1", port)
    if problem is None:
        return Finding("page port", "ok", f"TCP 127.0.0.1:{port} free")
    other = free_port_near(socket.SOCK_STREAM, "127.0.0.1", port)
    fix = f"stylevj run --control-port {other}" if other else "stylevj run --no-control"
    if port == PAGE_PORT:
        return Finding("page port", "degraded", f"TCP {port} in use ({problem}): the page takes a free one (logged)", fix=fix)
    return Finding("page port", "degraded", f"TCP {port} in use ({problem}): the show needs another", fix=fix)


def bind_problem(kind: int, host: str, port: int) -> str | None:
    """Why a socket of `kind` cannot bind host:port now (None: it can), bound as the show binds:
    UDP plainly (the OSC server), TCP with SO_REUSEADDR (asyncio's servers, the operator page)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def free_port_near(kind: int, host: str, port: int, tries: int = 50) -> int | None:
    """The first port after `port` that binds now, or None within `tries`."""
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        if bind_problem(kind, host, candidate) is None:
            return candidate
    return None


def check_cache() -> Finding:
    """Which published networks are cached (a show that needs no network)."""
    from ..checkpoints.catalog import CATALOG, cached_path
    from ..checkpoints.download import default_cache_dir

    cached = [p.name for p in CATALOG if cached_path(p) is not None]
    if cached:
        return Finding("checkpoints", "ok", f"cached in {default_cache_dir()}: {', '.join(cached)} (no network needed)")
    return Finding("checkpoints", "ok", f"no published network cached in {default_cache_dir()} "
                                        "(stylevj models --fetch ffhq-1024 gets one ahead of a show)")
