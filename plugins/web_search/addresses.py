"""Which addresses downloads may reach: public ones only, so that a search result or a redirect
cannot reach the user's own machine, router or cloud metadata service (127.0.0.1/admin,
192.168.x.x, 169.254.169.254). transport.py applies the rule where sockets are opened."""
from __future__ import annotations

import ipaddress

KINDS = ("loopback", "link_local", "unspecified", "multicast", "reserved", "private")  # specific first


class LocalAddressError(Exception):
    """A connection refused because the host resolves to a non-public address."""

    def __init__(self, host: str, address: str, kind: str):
        super().__init__(f"refused: {host} is {address}, a {kind} address; set allow_local = true "
                         f"to download from a server on your own network")


def address_kind(address: str) -> str | None:
    """What makes ``address`` non-public ("loopback", "private"…), or None for a public one."""
    ip = ipaddress.ip_address(address)
    if getattr(ip, "ipv4_mapped", None):  # ::ffff:127.0.0.1 is 127.0.0.1
        ip = ip.ipv4_mapped
    kind = next((kind for kind in KINDS if getattr(ip, f"is_{kind}")), None)
    if kind:
        return kind.replace("_", "-")
    return None if ip.is_global else "non-public"  # e.g. 100.64.0.0/10, shared by carriers
