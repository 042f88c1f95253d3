"""`[fetch] allow`: the host names and CIDR networks that re-open what the fetcher's
address check (SSRF) refuses. Parsed here, with no network code, so that the config is
checked when it is loaded; `aggregator.ingest.http` does the matching."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

__all__ = ["IPNetwork", "host_name", "parse_allow"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]+")


def host_name(host: str) -> str:
    """A host name as compared: lower case, without the root dot."""
    return host.lower().rstrip(".")


def parse_allow(entries: Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    """(host names, networks); ValueError with a message for an entry that is neither."""
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip()
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            if not _HOST_NAME.fullmatch(text):
                raise ValueError(f"{entry!r} is neither a host name nor a CIDR network") from None
            hosts.add(host_name(text))
    return frozenset(hosts), tuple(networks)
