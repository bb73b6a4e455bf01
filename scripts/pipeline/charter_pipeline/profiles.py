"""Profile defaults. A manifest's `parameters` override them; unknown keys are an error.

The parameters are declared once, in `parameters.json` beside this file: each one's type, its
default (and where a profile differs, that profile's), its allowed values and a line of help.
Charter's server reads the same file to build its run form and to refuse a run's parameters
before queueing it, so the two cannot disagree. Every knob has a default in every profile, so
the set of accepted keys is the same whatever the profile.

Types: `integer`, `number`, `boolean`, `string`, and `path` (a string or null). Constraints:
`choices`, `minimum`, `exclusive_minimum`, `exclusive_maximum`, `excluded` (values not allowed
inside the range) and `required_by` (profiles that need a non-empty value).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TABLE_PATH = Path(__file__).with_name("parameters.json")
TABLE_SCHEMA = "charter.pipeline-parameters/1"


def _load_table() -> dict[str, Any]:
    table = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    if table.get("schema") != TABLE_SCHEMA:
        raise RuntimeError(f"{TABLE_PATH} has schema {table.get('schema')!r}, not {TABLE_SCHEMA!r}")
    return table


_TABLE = _load_table()
PROFILES = tuple(p["name"] for p in _TABLE["profiles"])
SPECS: dict[str, dict[str, Any]] = {p["name"]: p for p in _TABLE["parameters"]}
EVAL_SIZES = tuple(name for name, spec in SPECS.items() if spec["section"].startswith("Evaluation sizes"))


class ParameterError(ValueError):
    pass


def defaults(profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    return {name: spec.get("profiles", {}).get(profile, spec["default"]) for name, spec in SPECS.items()}


def _coerce(key: str, value: Any, kind: str) -> Any:
    if kind == "path":
        if value is None or isinstance(value, str):
            return value
        raise ParameterError(f"parameter {key!r} must be a string or null, got {value!r}")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise ParameterError(f"parameter {key!r} must be true or false, got {value!r}")
    if kind == "integer":
        # JSON writers sometimes emit 8.0 for 8; accept integral floats, nothing else.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ParameterError(f"parameter {key!r} must be an integer, got {value!r}")
        return int(value)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"parameter {key!r} must be a number, got {value!r}")
        return float(value)
    if kind == "string":
        if not isinstance(value, str):
            raise ParameterError(f"parameter {key!r} must be a string, got {value!r}")
        return value
    raise ParameterError(f"parameter {key!r} has an unsupported type {kind!r}")


def _check(key: str, value: Any, spec: dict[str, Any]) -> None:
    if "choices" in spec and value not in spec["choices"]:
        raise ParameterError(f"parameter {key!r} must be one of {', '.join(spec['choices'])}, got {value!r}")
    if spec["type"] not in ("integer", "number"):
        return
    low, above, below = spec.get("minimum"), spec.get("exclusive_minimum"), spec.get("exclusive_maximum")
    excluded = spec.get("excluded", [])
    if (low is not None and value < low) or (above is not None and value <= above) or (
            below is not None and value >= below) or value in excluded:
        raise ParameterError(f"parameter {key!r} must be {describe_range(spec)}, got {value!r}")


def describe_range(spec: dict[str, Any]) -> str:
    """The allowed values of a number, in words ("at least 1", "in (0, 1)")."""
    low, above, below = spec.get("minimum"), spec.get("exclusive_minimum"), spec.get("exclusive_maximum")
    excluded = spec.get("excluded", [])
    if low == -1 and excluded == [0]:
        return "-1 or at least 1"
    if low == -1:
        return "-1 (all), 0 (skip) or more"
    if below is not None:
        start = f"[{low}" if low is not None else f"({above}" if above is not None else "(-inf"
        return f"in {start}, {below})"
    if above is not None:
        return f"more than {above}"
    return f"at least {low}"


def resolve(profile: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    params = defaults(profile)
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(params))}")
    for key, value in overrides.items():
        params[key] = _coerce(key, value, SPECS[key]["type"])
    for key, spec in SPECS.items():
        _check(key, params[key], spec)
        if profile in spec.get("required_by", []) and not params[key]:
            raise ParameterError(f"profile {profile!r} needs parameters.{key} ({spec['help']})")
    return params
