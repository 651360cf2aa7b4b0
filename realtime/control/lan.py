"""Where a phone finds the operator page: this machine's address on the network, and the URL as a QR code.

    choose_address(["127.0.0.1", "169.254.3.4", "10.1.2.3"])   # "10.1.2.3": never loopback, LAN before link-local
    lan_address()                                              # the default route's source, else an interface's
    print(invitation_text(page.phone_url, page.url))           # what `stylevj run` prints

Read from the kernel with the standard library only (a UDP socket that sends nothing, SIOCGIFADDR):
no tool and no package needed; the QR code needs `segno`, and without it the URL is printed alone.
"""

from __future__ import annotations

import io


def qr_text(url: str) -> str | None:
    """The URL as a QR code drawn with terminal characters (a phone camera opens it); None without segno."""
    try:
        import segno
    except ImportError:  # pragma: no cover - a runtime dependency
        return None
    out = io.StringIO()
    segno.make(url, error="l").terminal(out=out, compact=True)
    return out.getvalue()


def invitation_text(phone_url: str | None, local_url: str) -> str:
    """What `stylevj run` prints for a page open beyond loopback: the URL a phone opens and its QR
    code, or (`phone_url` None: loopback only) one line saying that no device but this one can reach it."""
    if phone_url is None:
        return (f"operator page: this machine has no network address besides loopback, so no phone can reach it; "
                f"on this machine open {local_url}")
    return f"operator page (open it on a phone): {phone_url}\n{qr_text(phone_url) or ''}"


def lan_address() -> str | None:
    """This machine's IPv4 address on the network, for the URL of a server bound to every address:
    the default route's source address, else the best interface address (`choose_address`);
    None when there is only loopback."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            routed = probe.getsockname()[0]
        except OSError:  # no default route (a stage network without a gateway)
            routed = None
    return choose_address(([routed] if routed else []) + [address for _, address in interface_addresses()])


def interface_addresses() -> list[tuple[str, str]]:
    """(interface, IPv4 address) of each interface that has one, read from the kernel (Linux:
    SIOCGIFADDR; elsewhere []): no tool and no package needed."""
    import socket

    try:
        import fcntl
        import struct

        names = socket.if_nameindex()
    except (ImportError, OSError, AttributeError):
        return []
    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in names:
            try:
                answer = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
            except OSError:  # no IPv4 address on it (or it went away)
                continue
            out.append((name, socket.inet_ntoa(answer[20:24])))
    return out


def choose_address(candidates: list[str]) -> str | None:
    """The first address a phone could use: not loopback, not unspecified; a private (LAN) or
    global one before a link-local one (169.254.x.x). None when none is left."""
    import ipaddress

    usable = []
    for text in candidates:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if not (address.is_loopback or address.is_unspecified or address.is_multicast):
            usable.append(address)
    usable.sort(key=lambda a: a.is_link_local)  # stable: the given order otherwise
    return str(usable[0]) if usable else None
