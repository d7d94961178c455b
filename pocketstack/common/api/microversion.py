"""Microversion negotiation and echo (Nova, Cinder, Placement, Manila style).

A service declares a :class:`MicroversionSpec`; each request gets a :class:`Version` from its
headers: absent → the minimum, ``latest`` → the maximum, garbage → 400, out of range → 406.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from pocketstack.common import exceptions

_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION_RE.match(text.strip())
        if not m:
            raise exceptions.BadRequest(f"Invalid microversion format: {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)

    def at_least(self, text: str) -> bool:
        return self >= Version.parse(text)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True)
class MicroversionSpec:
    """What one service advertises and how its clients name it in headers."""

    service_type: str  # as in "OpenStack-API-Version: compute 2.1"
    minimum: str
    maximum: str
    legacy_header: str | None = None  # e.g. X-OpenStack-Nova-API-Version

    @property
    def min_version(self) -> Version:
        return Version.parse(self.minimum)

    @property
    def max_version(self) -> Version:
        return Version.parse(self.maximum)

    def negotiate(self, headers: dict[str, str]) -> Version:
        """Pick the version a request asks for (``headers`` keys lower-cased)."""
        requested: str | None = None
        generic = headers.get("openstack-api-version")
        if generic:
            for part in generic.split(","):
                bits = part.strip().split()
                if len(bits) == 2 and bits[0].lower() == self.service_type:
                    requested = bits[1]
                    break
        if requested is None and self.legacy_header:
            requested = headers.get(self.legacy_header.lower())
        if requested is None:
            return self.min_version
        if requested.strip().lower() == "latest":
            return self.max_version
        version = Version.parse(requested)
        if not (self.min_version <= version <= self.max_version):
            raise exceptions.NotAcceptable(
                f"Version {version} is not supported by the API. Minimum is "
                f"{self.minimum} and maximum is {self.maximum}."
            )
        return version

    def response_headers(self, version: Version) -> dict[str, str]:
        headers = {"OpenStack-API-Version": f"{self.service_type} {version}"}
        vary = ["OpenStack-API-Version"]
        if self.legacy_header:
            headers[self.legacy_header] = str(version)
            vary.append(self.legacy_header)
        headers["Vary"] = ", ".join(vary)
        return headers
