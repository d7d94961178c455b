"""OpenID Connect bearer tokens checked by the cloud itself (what Apache's mod_auth_openidc does
in front of Keystone): the provider configuration per identity provider, its JWKS, and the
validation of a JWT (signature, ``exp``/``nbf``/``iss``/``aud``) into an assertion of claims
for the mapping engine.

Configuration (setting ``federation_oidc_providers``: a JSON file path, inline JSON, or a TOML
table) maps an identity provider id to::

    {"issuer": "https://id.example.com",            # required; the token's iss must equal it
     "jwks_file": "/etc/pocketstack/idp-jwks.json", # or "jwks": {...} inline, or "jwks_url"
     "audience": ["pocketstack"],                   # optional; the token's aud must hold one
     "claim_prefix": "OIDC-",                       # claims reach the mapping as OIDC-<claim>
     "algorithms": ["RS256"],                       # accepted signature algorithms
     "leeway": 30}                                  # seconds of clock skew allowed

A ``jwks_url`` is fetched by the cloud (cached ``jwks_cache_seconds``, default 300, and again
at once — at most every 10 s — when a token names an unknown key id).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from pocketstack.common import exceptions

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
MAX_TOKEN_LENGTH = 64 * 1024
REFETCH_INTERVAL = 10.0


class InvalidToken(exceptions.Unauthorized):
    """A bearer token that is not a valid, current token of the provider."""


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("Invalid OpenID Connect token: not base64url encoded.") from None


def _int(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return int.from_bytes(_b64(value), "big")


def _public_key(jwk: dict[str, Any]) -> Any:
    kty = jwk.get("kty")
    if kty == "RSA":
        return rsa.RSAPublicNumbers(_int(jwk.get("e")), _int(jwk.get("n"))).public_key()
    if kty == "EC":
        curve = _CURVES.get(str(jwk.get("crv")))
        if curve is None:
            raise ValueError(f"unsupported curve {jwk.get('crv')!r}")
        return ec.EllipticCurvePublicNumbers(
            _int(jwk.get("x")), _int(jwk.get("y")), curve).public_key()
    raise ValueError(f"unsupported key type {kty!r}")


def parse_jwks(data: Any) -> list[tuple[dict[str, Any], Any]]:
    """The usable signing keys of a JWKS document, each with its parsed public key."""
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("a JWKS is an object with a 'keys' list")
    out = []
    for jwk in data["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        try:
            out.append((jwk, _public_key(jwk)))
        except (ValueError, TypeError, InvalidToken):
            continue
    return out


def _verify(alg: str, key: Any, signed: bytes, signature: bytes) -> bool:
    digest = _HASHES[alg[2:]]()
    try:
        if alg.startswith("RS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), digest)
        elif alg.startswith("PS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed,
                       padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size),
                       digest)
        elif alg.startswith("ES") and isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            der = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                       int.from_bytes(signature[size:], "big"))
            key.verify(der, signed, ec.ECDSA(digest))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _number(value: Any) -> bool:
    """A JSON number that is a real time (not a bool, NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@dataclass
class Provider:
    """One identity provider's OpenID Connect settings and its key set."""

    idp_id: str
    issuer: str
    audience: tuple[str, ...] = ()
    claim_prefix: str = "OIDC-"
    algorithms: tuple[str, ...] = ("RS256",)
    leeway: int = 30
    jwks: Any = None
    jwks_file: str = ""
    jwks_url: str = ""
    jwks_cache_seconds: float = 300.0
    _keys: list[tuple[dict[str, Any], Any]] = field(default_factory=list, repr=False)
    _loaded_at: float = field(default=0.0, repr=False)
    _source_stamp: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_config(cls, idp_id: str, conf: Any) -> Provider:
        if not isinstance(conf, dict):
            raise ValueError(f"federation_oidc_providers.{idp_id}: not an object")
        known = {"issuer", "audience", "claim_prefix", "algorithms", "leeway", "jwks",
                 "jwks_file", "jwks_url", "jwks_cache_seconds"}
        unknown = sorted(set(conf) - known)
        if unknown:
            raise ValueError(f"federation_oidc_providers.{idp_id}: unknown keys {unknown}")
        if not isinstance(conf.get("issuer"), str) or not conf["issuer"]:
            raise ValueError(f"federation_oidc_providers.{idp_id}: 'issuer' is required")
        sources = [k for k in ("jwks", "jwks_file", "jwks_url") if conf.get(k)]
        if len(sources) != 1:
            raise ValueError(f"federation_oidc_providers.{idp_id}: give exactly one of jwks, "
                             "jwks_file, jwks_url")
        audience = conf.get("audience") or ()
        if isinstance(audience, str):
            audience = (audience,)
        algorithms = tuple(conf.get("algorithms") or ("RS256",))
        bad = [a for a in algorithms if a not in ALGORITHMS]
        if bad:
            raise ValueError(f"federation_oidc_providers.{idp_id}: unsupported algorithms "
                             f"{bad} (supported: {list(ALGORITHMS)})")
        provider = cls(idp_id=idp_id, issuer=conf["issuer"], audience=tuple(audience),
                       claim_prefix=str(conf.get("claim_prefix", "OIDC-")),
                       algorithms=algorithms, leeway=int(conf.get("leeway", 30)),
                       jwks=conf.get("jwks"), jwks_file=str(conf.get("jwks_file") or ""),
                       jwks_url=str(conf.get("jwks_url") or ""),
                       jwks_cache_seconds=float(conf.get("jwks_cache_seconds", 300)))
        if provider.jwks is not None:
            provider._keys = parse_jwks(provider.jwks)
        return provider

    # -- keys ----------------------------------------------------------------------------------
    def _fetch(self) -> list[tuple[dict[str, Any], Any]]:
        if self.jwks_file:
            path = Path(self.jwks_file)
            return parse_jwks(path.read_bytes())
        with urllib.request.urlopen(self.jwks_url, timeout=10) as resp:  # noqa: S310
            return parse_jwks(resp.read(1 << 20))

    def keys(self, refresh: bool = False) -> list[tuple[dict[str, Any], Any]]:
        if self.jwks is not None:
            return self._keys
        now = time.monotonic()
        with self._lock:
            stamp: Any = None
            if self.jwks_file:
                try:
                    stat = Path(self.jwks_file).stat()
                    stamp = (stat.st_mtime_ns, stat.st_size)
                except OSError:
                    stamp = None
            stale = (self._loaded_at == 0.0 or stamp != self._source_stamp
                     or (self.jwks_url and now - self._loaded_at > self.jwks_cache_seconds)
                     or (refresh and now - self._loaded_at > REFETCH_INTERVAL))
            if stale:
                try:
                    self._keys = self._fetch()
                    self._source_stamp = stamp
                    self._loaded_at = now
                except (OSError, ValueError) as exc:
                    if not self._keys:
                        raise exceptions.ServiceUnavailable(
                            f"The key set of identity provider {self.idp_id} cannot be "
                            f"read: {exc}") from None
            return self._keys

    # -- tokens --------------------------------------------------------------------------------
    def validate(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The claims of a valid token; raises InvalidToken (401) otherwise."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("Invalid OpenID Connect token: too long.")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("Invalid OpenID Connect token: not a signed JWT.")
        try:
            header = json.loads(_b64(parts[0]))
            claims = json.loads(_b64(parts[1]))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise InvalidToken("Invalid OpenID Connect token: malformed header or claims.") \
                from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise InvalidToken("Invalid OpenID Connect token: malformed header or claims.")
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise InvalidToken(f"Invalid OpenID Connect token: algorithm {alg!r} is not "
                               "accepted.")
        signature = _b64(parts[2])
        signed = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        kid = header.get("kid")
        if not self._signature_ok(str(alg), kid, signed, signature, refresh=False):
            known = {jwk.get("kid") for jwk, _ in self.keys()}
            if not (kid is not None and kid not in known and self._signature_ok(
                    str(alg), kid, signed, signature, refresh=True)):
                raise InvalidToken(
                    "Invalid OpenID Connect token: signature verification failed.")
        self._check_claims(claims, time.time() if now is None else now)
        try:
            bad_text = _has_nul(claims)
        except RecursionError:
            bad_text = True
        if bad_text:
            raise InvalidToken("Invalid OpenID Connect token: a claim holds a NUL character.")
        return claims

    def _signature_ok(self, alg: str, kid: Any, signed: bytes, signature: bytes,
                      refresh: bool) -> bool:
        for jwk, key in self.keys(refresh=refresh):
            if kid is not None and jwk.get("kid") not in (None, kid):
                continue
            if jwk.get("alg") not in (None, alg):
                continue
            if _verify(alg, key, signed, signature):
                return True
        return False

    def _check_claims(self, claims: dict[str, Any], now: float) -> None:
        exp: Any = claims.get("exp")
        if not _number(exp):
            raise InvalidToken("Invalid OpenID Connect token: 'exp' is required.")
        if now > exp + self.leeway:
            raise InvalidToken("Invalid OpenID Connect token: the token has expired.")
        nbf: Any = claims.get("nbf")
        if nbf is not None:
            if not _number(nbf):
                raise InvalidToken("Invalid OpenID Connect token: 'nbf' is not a number.")
            if now + self.leeway < nbf:
                raise InvalidToken("Invalid OpenID Connect token: the token is not yet "
                                   "valid.")
        if claims.get("iss") != self.issuer:
            raise InvalidToken("Invalid OpenID Connect token: unexpected issuer.")
        if self.audience:
            aud = claims.get("aud")
            auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if not any(a in self.audience for a in auds):
                raise InvalidToken("Invalid OpenID Connect token: the audience does not "
                                   "match.")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("Invalid OpenID Connect token: 'sub' is required.")

    def assertion(self, claims: dict[str, Any]) -> dict[str, Any]:
        """Claims as the mapping engine sees them: ``<prefix><claim>`` → text or list."""
        out: dict[str, Any] = {}
        for name, value in claims.items():
            if isinstance(value, bool):
                text: Any = "true" if value else "false"
            elif isinstance(value, (str, int, float)):
                text = str(value)
            elif isinstance(value, list):
                text = [v if isinstance(v, str) else json.dumps(v) for v in value]
            else:
                try:
                    text = json.dumps(value, sort_keys=True)
                except (RecursionError, ValueError):
                    continue
            out[f"{self.claim_prefix}{name}"] = text
        return out


@dataclass
class Providers:
    """The configured providers by identity provider id."""

    by_idp: dict[str, Provider] = field(default_factory=dict)

    @classmethod
    def load(cls, setting: Any) -> Providers:
        """From the ``federation_oidc_providers`` setting (path, JSON text or a table)."""
        if not setting:
            return cls()
        data = setting
        if isinstance(setting, str):
            text = setting.strip()
            if not text.startswith("{"):
                text = Path(text).expanduser().read_text()
            data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("federation_oidc_providers must be an object keyed by identity "
                             "provider id")
        return cls({idp: Provider.from_config(idp, conf) for idp, conf in data.items()})

    def get(self, idp_id: str) -> Provider | None:
        return self.by_idp.get(idp_id)
