"""``allowed_networks`` settings (push receiver, console proxy header): checked once, matched per request."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from etl.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(setting: str, networks: Iterable[str]) -> list[Network]:
    """Each CIDR of ``setting``; a `ConfigError` naming the setting for one that is not a network."""
    parsed = []
    for net in networks:
        try:
            parsed.append(ipaddress.ip_network(net, strict=False))
        except ValueError:
            raise ConfigError(f"{setting}: {net!r} is not a network like 10.0.0.0/8") from None
    return parsed


def contains(networks: Iterable[Network], address: str | None) -> bool:
    """Whether ``address`` (an IP as text; anything else is not) lies in one of ``networks``."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in net for net in networks)
