"""Which client a web request counts against, for the per-address throttle of the invitation
page: the connection's peer, or, behind a trusted reverse proxy, the address it forwarded."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or networks (``10.0.0.1``, ``10.0.0.0/8``, ``::1``), as the settings name
    the trusted proxies; raises ``ValueError`` on one that is neither."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        found = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def client_address(request: Request, trusted: tuple[Network, ...]) -> str:
    """Who a request counts against: the peer, unless the peer is a trusted proxy; then the
    nearest address in ``X-Forwarded-For`` that is not a trusted proxy itself (read from the
    right: the left part is whatever the client wrote). An IPv6 client is its /64.

    Without trusted proxies the header is ignored: anyone can send it, and believing it would
    let one client count as many."""
    peer = _address(request.client.host if request.client else "")
    client = peer
    if peer is not None and any(peer in network for network in trusted):
        hops = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break  # a garbled hop: trust nothing left of it
            client = address
            if not any(address in network for network in trusted):
                break
    if client is None:
        return "unknown"
    if isinstance(client, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((client, 64), strict=False))
    return str(client)
