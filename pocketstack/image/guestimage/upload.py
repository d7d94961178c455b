"""Upload a built guest image to a running cloud's image service, as a client would.

``pocketstack image build-guest --register`` authenticates with a cloud of ``clouds.yaml``
(the state directory's, ``pocketstack-admin`` by default), creates a public image named
:data:`~pocketstack.image.guestimage.NAME` with the guest's properties through Glance v2, uploads
the file, and then deletes older images of that name so the name stays unambiguous.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from pocketstack.image.guestimage.debs import GuestBuildError

LOG = logging.getLogger(__name__)


class _Client:
    def __init__(self, clouds_yaml: Path, cloud: str) -> None:
        try:
            doc = yaml.safe_load(clouds_yaml.read_text())
            entry = doc["clouds"][cloud]
            auth = entry["auth"]
        except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
            raise GuestBuildError(f"no cloud {cloud!r} in {clouds_yaml}: {exc}") from exc
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": auth["username"], "password": auth["password"],
                "domain": {"name": auth.get("user_domain_name", "Default")}}}},
            "scope": {"project": {"name": auth["project_name"],
                                  "domain": {"name": auth.get("project_domain_name",
                                                              "Default")}}},
        }}
        url = auth["auth_url"].rstrip("/") + "/v3/auth/tokens"
        headers, token = self._call("POST", url, json.dumps(body).encode(),
                                    {"Content-Type": "application/json"})
        self.token = headers["X-Subject-Token"]
        interface = entry.get("interface", "public")
        region = entry.get("region_name")
        self.image_url = ""
        for service in token["token"]["catalog"]:
            if service["type"] != "image":
                continue
            for ep in service["endpoints"]:
                if ep["interface"] == interface and (not region or ep.get("region") == region):
                    self.image_url = ep["url"].rstrip("/")
        if not self.image_url:
            raise GuestBuildError(f"no {interface} image endpoint in the catalog of {cloud}")

    @staticmethod
    def _call(method: str, url: str, data: Any = None,
              headers: dict[str, str] | None = None) -> tuple[Any, Any]:
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:  # noqa: S310 - cloud URL
                raw = resp.read()
                return resp.headers, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as exc:
            raise GuestBuildError(f"{method} {url}: HTTP {exc.code} "
                                  f"{exc.read().decode(errors='replace')[:400]}") from exc
        except urllib.error.URLError as exc:
            raise GuestBuildError(f"{method} {url}: {exc.reason} (is the cloud up?)") from exc

    def call(self, method: str, path: str, body: Any = None, data: Any = None,
             headers: dict[str, str] | None = None) -> Any:
        h = {"X-Auth-Token": self.token, **(headers or {})}
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        return self._call(method, self.image_url + path, data, h)[1]


def upload(image: Path, clouds_yaml: Path, cloud: str, name: str,
           properties: dict[str, str]) -> str:
    """Register ``image`` (qcow2) as a public image; returns its id."""
    client = _Client(clouds_yaml, cloud)
    older = client.call("GET", f"/v2/images?name={urllib.parse.quote(name)}")["images"]
    created = client.call("POST", "/v2/images", body={
        "name": name, "disk_format": "qcow2", "container_format": "bare",
        "visibility": "public", **properties})
    image_id = str(created["id"])
    try:
        with open(image, "rb") as fh:
            client.call("PUT", f"/v2/images/{image_id}/file", data=fh, headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(image.stat().st_size)})
    except BaseException:
        client.call("DELETE", f"/v2/images/{image_id}")
        raise
    for old in older:
        try:
            client.call("DELETE", f"/v2/images/{old['id']}")
        except GuestBuildError as exc:  # protected, or gone meanwhile: the new one is there
            LOG.warning("kept older image %s: %s", old["id"], exc)
    return image_id
