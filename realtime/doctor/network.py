"""The doctor's checks of what a show takes from the network: its ports (bound with real sockets,
as the show binds them) and the checkpoints already downloaded (a show that needs no network)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from .report import Finding


def check_osc_port(port: int) -> Finding:
    """The OSC port, bound as UDP on all addresses as the server binds it. Taken, `stylevj run`
    cannot start its OSC server: a fail line, with a free port to use and who holds this one."""
    return _check_port("OSC port", socket.SOCK_DGRAM, "0.0.0.0", port, "--osc-port", "--no-osc")


def check_page_port(port: int, chosen: bool = True) -> Finding:
    """The operator page's port, bound as TCP on 127.0.0.1. `chosen`: given with --control-port
    (taken, `run` stops: a fail line); the default port taken is only degraded, as `run` then
    serves the page on a free one."""
    return _check_port("page port", socket.SOCK_STREAM, "127.0.0.1", port, "--control-port", "--no-control",
                       moves="" if chosen else "the page takes a free one (logged)")


def _check_port(name: str, kind: int, host: str, port: int, flag: str, off: str, moves: str = "") -> Finding:
    """Bind `port` as `run` would. Taken: a fail line naming its holder and a free port near it,
    or, when `run` moves elsewhere on its own (`moves` says how), a degraded one."""
    udp = kind == socket.SOCK_DGRAM
    protocol = "UDP" if udp else "TCP"
    if port == 0:
        return Finding(name, "ok", f"{protocol}: any free port (0)")
    problem = bind_problem(kind, host, port)
    if problem is None:
        return Finding(name, "ok", f"{protocol} {port} free" if udp else f"{protocol} {host}:{port} free")
    other = free_port_near(kind, host, port)
    fix = f"stylevj run {flag} {other}" if other else f"stylevj run {off}"
    taken = f"{protocol} {port} in use ({problem}{held_by(protocol.lower(), port)})"
    if moves:
        return Finding(name, "degraded", f"{taken}: {moves}", fix=fix)
    return Finding(name, "fail", f"{taken}: stylevj run would stop there", fix=fix)


def held_by(protocol: str, port: int, proc: str | os.PathLike = "/proc") -> str:
    """', held by PID 1234 (command)' when /proc says which process has the port bound, else ''
    (another user's process, or no /proc: the line then names the port only)."""
    holders = port_holders(protocol, port, proc)
    if not holders:
        return ""
    return ", held by " + ", ".join(f"PID {pid} ({name})" if name else f"PID {pid}" for pid, name in holders[:3])


def port_holders(protocol: str, port: int, proc: str | os.PathLike = "/proc") -> list[tuple[int, str]]:
    """(pid, command) of each process holding a socket bound to local `port` ('udp' or 'tcp',
    IPv4 and IPv6), found through /proc/net and the processes' fd links; [] when unreadable."""
    root = Path(proc)
    inodes: set[str] = set()
    for table in (protocol, protocol + "6"):
        try:
            rows = (root / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[1].rpartition(":")[2] == f"{port:04X}" and fields[9] != "0":
                inodes.add(fields[9])
    if not inodes:
        return []
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found: list[tuple[int, str]] = []
    for entry in root.iterdir() if root.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:  # gone, or another user's
            continue
        if any(_link(fd) in wanted for fd in fds):
            found.append((int(entry.name), _command(entry)))
    return sorted(found)


def _link(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:  # closed meanwhile
        return ""


def _command(entry: Path) -> str:
    try:
        args = [a.decode("utf-8", "replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return ""
    if args:
        args[:2] = [os.path.basename(a) if "/" in a else a for a in args[:2]]
    text = " ".join(args)
    return text if len(text) <= 60 else text[:59] + "…"


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
