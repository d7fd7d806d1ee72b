"""An httpx transport that connects to public addresses only (addresses.py says which).

The check runs where the socket is opened, on the very address connected to, for the first request
and every redirect, so a name that resolves to a public address when checked and to a private one
when connecting (DNS rebinding) cannot slip through. TLS still checks the certificate against the
host name: httpcore passes the name, not the address, to the TLS handshake.
"""
from __future__ import annotations

import socket

import httpcore
import httpx

from .addresses import LocalAddressError, address_kind


class PublicOnlyBackend(httpcore.SyncBackend):
    """Resolves the host itself and connects to the addresses it checked, refusing the host when
    any of them is not public (a name that mixes public and private addresses is refused whole)."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:
            if kind := address_kind(address):
                raise LocalAddressError(host, address, kind)
        for address in addresses:  # in the resolver's order, as socket.create_connection tries them
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure


class PublicOnlyTransport(httpx.HTTPTransport):
    """httpx's transport with connections through PublicOnlyBackend. It connects directly: proxies
    from the environment are not used, since the address checked must be the one connected to."""

    def __init__(self, limits: httpx.Limits):
        super().__init__(limits=limits)
        # httpx has no argument for the network backend yet (encode/httpx#3749): build the same
        # pool it builds, through httpcore's public constructor, with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=PublicOnlyBackend())
