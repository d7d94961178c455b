"""The fast body check never vouches for a body the full JSON-schema validator rejects, and does
vouch for the usual valid bodies (so the full validator is skipped on the hot paths)."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest

from pocketstack.placement import schemas
from pocketstack.placement.api import fastschema

SCHEMAS = {name: value for name, value in vars(schemas).items()
           if name.isupper() and isinstance(value, dict) and not name.startswith("_")}
U = "9c5e0f5e-8f0e-4a55-9d0b-6e2c9e1f0a11"

STRINGS = ["", "VCPU", "vcpu", "CUSTOM_X", "CUSTOM_", "MEMORY_MB", U, U.replace("-", ""),
           U.upper(), U[:-1], "x" * 255, "X" * 256, "INSTANCE", "A B", "name", "ÄÖ"]
SCALARS: list[Any] = [None, True, False, 0, 1, -1, 2, 2147483647, 2147483648, 0.0, 1.0, 1.5,
                      -0.5, 3.4e38, 3.5e38, float("inf"), float("nan"), *STRINGS]


def _sample(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value shaped by ``schema`` most of the time, anything some of the time."""
    if depth > 6 or not isinstance(schema, dict) or rng.random() < 0.08:
        return rng.choice([*SCALARS, [], {}, [rng.choice(STRINGS)], {"k": 1}])
    if "anyOf" in schema:
        return _sample(rng.choice(schema["anyOf"]), rng, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema or "patternProperties" in schema:
        out: dict[str, Any] = {}
        for key, sub in schema.get("properties", {}).items():
            if key in schema.get("required", ()) and rng.random() < 0.95 or rng.random() < 0.5:
                out[key] = _sample(sub, rng, depth + 1)
        for _pattern, sub in schema.get("patternProperties", {}).items():
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                out[rng.choice(STRINGS)] = _sample(sub, rng, depth + 1)
        if rng.random() < 0.1:
            out[rng.choice(STRINGS)] = _sample({}, rng, depth + 1)
        return out
    if kind == "array":
        return [_sample(schema.get("items", {}), rng, depth + 1)
                for _ in range(rng.choice([0, 1, 2, 3]))] + (
            [rng.choice(STRINGS)] * 2 if rng.random() < 0.1 else [])
    if kind == "string":
        return rng.choice(STRINGS)
    if kind in ("integer", "number"):
        return rng.choice([v for v in SCALARS if not isinstance(v, str)])
    return rng.choice(SCALARS)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_fast_check_never_accepts_what_jsonschema_rejects(name: str) -> None:
    schema = SCHEMAS[name]
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    rng = random.Random(name)
    for _ in range(1500):
        doc = _sample(schema, rng)
        if fastschema.check(schema, doc):
            assert validator.is_valid(doc), (name, doc)


def test_fast_check_vouches_for_the_usual_bodies() -> None:
    alloc = {U: {"resources": {"VCPU": 1, "MEMORY_MB": 512}}}
    for schema, doc in [
        (schemas.PUT_ALLOCATIONS_V1_38, {"allocations": alloc, "project_id": "p",
                                          "user_id": "u", "consumer_generation": None,
                                          "consumer_type": "INSTANCE"}),
        (schemas.PUT_ALLOCATIONS_V1_28, {"allocations": alloc, "project_id": "p",
                                          "user_id": "u", "consumer_generation": 3}),
        (schemas.PUT_ALLOCATIONS_V1_12, {"allocations": alloc, "project_id": "p",
                                          "user_id": "u"}),
        (schemas.PUT_INVENTORIES, {"resource_provider_generation": 0, "inventories": {
            "VCPU": {"total": 32, "allocation_ratio": 16.0},
            "MEMORY_MB": {"total": 131072, "allocation_ratio": 1.5, "reserved": 512},
            "DISK_GB": {"total": 2000, "min_unit": 1, "max_unit": 2000, "step_size": 1}}}),
        (schemas.POST_PROVIDER_V1_14, {"name": "compute1"}),
        (schemas.PUT_TRAITS, {"traits": ["HW_CPU_X86_AVX2", "CUSTOM_GOLD"],
                              "resource_provider_generation": 1}),
    ]:
        assert fastschema.check(schema, doc), doc
    # and says "not sure" (so the full validator decides) for bodies that are not
    bad = {"allocations": alloc, "project_id": "p", "user_id": "u",
           "consumer_generation": None, "consumer_type": "instance"}
    assert not fastschema.check(schemas.PUT_ALLOCATIONS_V1_38, bad)
    assert not fastschema.check(schemas.PUT_ALLOCATIONS_V1_38, {**bad, "consumer_type": "X",
                                                                 "extra": 1})
    assert not fastschema.check(schemas.PUT_INVENTORIES, {
        "resource_provider_generation": 0, "inventories": {"VCPU": {"total": 1.0}}})
