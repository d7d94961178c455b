"""OpenID Connect token checks on their own: algorithms, keys, and claims that must not pass
(the login through them, against a live cloud, is in test_federation.py)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pocketstack.identity.oidc import InvalidToken, Provider, Providers

ISS = "https://issuer.example"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _n(value: int, size: int | None = None) -> str:
    return _b64(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
_rsa = RSA_KEY.public_key().public_numbers()
_ec = EC_KEY.public_key().public_numbers()
JWKS = {"keys": [
    {"kty": "RSA", "kid": "r1", "n": _n(_rsa.n), "e": _n(_rsa.e)},
    {"kty": "EC", "kid": "e1", "crv": "P-256", "x": _n(_ec.x, 32), "y": _n(_ec.y, 32)},
    {"kty": "oct", "kid": "s1", "k": "c2VjcmV0"},  # symmetric keys are never used
]}


def _sign(alg: str, claims: dict[str, Any], kid: str = "r1", raw: str | None = None) -> str:
    header = _b64(json.dumps({"alg": alg, "kid": kid}).encode())
    body = raw if raw is not None else _b64(json.dumps(claims).encode())
    signing = f"{header}.{body}".encode()
    if alg == "RS256":
        sig = RSA_KEY.sign(signing, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        sig = RSA_KEY.sign(signing, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                salt_length=32), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(EC_KEY.sign(signing, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        sig = b""
    return f"{header}.{body}.{_b64(sig)}"


def _claims(**extra: Any) -> dict[str, Any]:
    return {"iss": ISS, "sub": "u1", "aud": "ps", "exp": time.time() + 60, **extra}


def _provider(**conf: Any) -> Provider:
    return Provider.from_config("idp", {"issuer": ISS, "jwks": JWKS, "audience": "ps",
                                        "algorithms": ["RS256", "PS256", "ES256"], **conf})


@pytest.mark.parametrize("alg,kid", [("RS256", "r1"), ("PS256", "r1"), ("ES256", "e1")])
def test_algorithms(alg: str, kid: str) -> None:
    assert _provider().validate(_sign(alg, _claims(), kid))["sub"] == "u1"


def test_refused_tokens() -> None:
    p = _provider()
    cases = [
        _sign("none", _claims()),
        _sign("HS256", _claims(), kid="s1"),
        _sign("RS256", _claims(), kid="e1"),  # the named key cannot verify it
        _sign("RS256", _claims(exp=float("nan"))),
        _sign("RS256", {}, raw=_b64(b'{"iss":"%s","sub":"u","aud":"ps","exp":NaN}'
                                      % ISS.encode())),
        _sign("RS256", {}, raw=_b64(b'{"iss":"%s","sub":"u","aud":"ps","exp":1e999}'
                                      % ISS.encode())),
        _sign("RS256", _claims(exp=True)),
        _sign("RS256", _claims(sub="")),
        _sign("RS256", _claims(name="a\x00b")),
        _sign("RS256", _claims(aud=["x", "y"])),
        _sign("RS256", _claims(iss=ISS + "/")),
        _sign("RS256", {}, raw=_b64(b"[" * 5000 + b"]" * 5000)),
        _sign("RS256", {}, raw="%%%"),
        "a.b",
        "x" * 70000,
    ]
    for token in cases:
        with pytest.raises(InvalidToken):
            p.validate(token)


def test_assertion_prefix_and_lists() -> None:
    p = _provider(claim_prefix="OIDC_CLAIM_")
    out = p.assertion({"sub": "u1", "groups": ["a", "b"], "email_verified": True,
                       "n": 5, "address": {"country": "NL"}})
    assert out == {"OIDC_CLAIM_sub": "u1", "OIDC_CLAIM_groups": ["a", "b"],
                   "OIDC_CLAIM_email_verified": "true", "OIDC_CLAIM_n": "5",
                   "OIDC_CLAIM_address": '{"country": "NL"}'}


@pytest.mark.parametrize("conf", [
    {"idp": {"jwks": JWKS}},
    {"idp": {"issuer": ISS}},
    {"idp": {"issuer": ISS, "jwks": JWKS, "jwks_file": "/x"}},
    {"idp": {"issuer": ISS, "jwks": JWKS, "algorithms": ["HS256"]}},
    {"idp": {"issuer": ISS, "jwks": JWKS, "surprise": 1}},
    {"idp": "not an object"},
])
def test_bad_configuration_refused_at_start(conf: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Providers.load(json.dumps(conf))
