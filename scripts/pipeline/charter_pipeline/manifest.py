"""Reading and validating `manifest.json` (CONTRACT.md). Errors here mean exit status 2."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import profiles

SCHEMA_NAME = "charter.run-manifest"
SUPPORTED_MAJOR = 1
_ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ManifestError(ValueError):
    pass


@dataclass
class Arm:
    name: str
    constitution_json: Path
    constitution_meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manifest:
    path: Path
    run_id: str
    profile: str
    seed: int
    parameters: dict[str, Any]          # resolved: profile defaults + overrides
    overrides: dict[str, Any]
    prompts_path: Path | None
    bbq_dir: Path
    output_dir: Path
    arms: list[Arm]
    raw: dict[str, Any]
    evals_dir: Path | None = None


def check_schema(schema: Any) -> None:
    if not isinstance(schema, str) or "/" not in schema:
        raise ManifestError(f"manifest 'schema' must look like '{SCHEMA_NAME}/{SUPPORTED_MAJOR}', got {schema!r}")
    name, _, version = schema.rpartition("/")
    if name != SCHEMA_NAME:
        raise ManifestError(f"not a Charter run manifest: schema {schema!r}")
    major = version.split(".", 1)[0]
    if not major.isdigit():
        raise ManifestError(f"manifest schema version {version!r} is not a number")
    if int(major) != SUPPORTED_MAJOR:
        raise ManifestError(
            f"manifest schema {schema!r} has major version {major}; this pipeline understands "
            f"{SCHEMA_NAME}/{SUPPORTED_MAJOR} only")


def _resolve_path(value: Any, base: Path, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ManifestError(f"{what} must be a non-empty path string, got {value!r}")
    p = Path(value).expanduser()
    # The run folder is the working directory, which is also where manifest.json lives.
    return p if p.is_absolute() else (base / p)


def parse(data: Any, path: Path, prompts_override: Path | None = None) -> Manifest:
    if not isinstance(data, dict):
        raise ManifestError("manifest must be a JSON object")
    check_schema(data.get("schema"))
    base = path.parent

    profile = data.get("profile")
    if profile not in profiles.PROFILES:
        raise ManifestError(f"'profile' must be one of {', '.join(profiles.PROFILES)}, got {profile!r}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ManifestError(f"'seed' must be a non-negative integer, got {seed!r}")
    overrides = data.get("parameters") or {}
    if not isinstance(overrides, dict):
        raise ManifestError("'parameters' must be an object")
    for k, v in overrides.items():
        if v is not None and not isinstance(v, (str, int, float, bool)):
            raise ManifestError(f"parameter {k!r} must be a number, string or boolean, got {v!r}")
    try:
        params = profiles.resolve(profile, overrides)
    except profiles.ParameterError as e:
        raise ManifestError(str(e)) from None
    if params["model_path"]:
        mp = _resolve_path(params["model_path"], base, "parameters.model_path")
        if not mp.is_dir():
            raise ManifestError(f"parameters.model_path {str(mp)!r} is not a directory")
        params["model_path"] = str(mp)

    prompts_path = None
    if prompts_override is not None:
        prompts_path = prompts_override
    elif data.get("prompts_path") is not None:
        prompts_path = _resolve_path(data["prompts_path"], base, "'prompts_path'")
    if prompts_path is not None and not prompts_path.is_file():
        raise ManifestError(f"prompts file {str(prompts_path)!r} does not exist")

    bbq_dir = _resolve_path(data.get("bbq_dir"), base, "'bbq_dir'")
    if params["bbq_per_stratum"] != 0:
        if not bbq_dir.is_dir():
            raise ManifestError(f"'bbq_dir' {str(bbq_dir)!r} is not a directory")
        if not any(bbq_dir.glob("*.jsonl")) and not any(bbq_dir.glob("*.jsonl.gz")):
            raise ManifestError(f"'bbq_dir' {str(bbq_dir)!r} holds no *.jsonl or *.jsonl.gz files")
    # The rest of the battery lives beside BBQ in shared/evals; a manifest may name the folder.
    if data.get("evals_dir") is not None:
        evals_dir = _resolve_path(data["evals_dir"], base, "'evals_dir'")
        if not evals_dir.is_dir():
            raise ManifestError(f"'evals_dir' {str(evals_dir)!r} is not a directory")
    else:
        evals_dir = bbq_dir.parent.parent if (bbq_dir.name == "data" and bbq_dir.parent.name == "bbq") else None
    if params["judge_model_path"]:
        jp = _resolve_path(params["judge_model_path"], base, "parameters.judge_model_path")
        if not jp.is_dir():
            raise ManifestError(f"parameters.judge_model_path {str(jp)!r} is not a directory")
        params["judge_model_path"] = str(jp)

    output_dir = _resolve_path(data.get("output_dir"), base, "'output_dir'")
    if output_dir.exists() and not output_dir.is_dir():
        raise ManifestError(f"'output_dir' {str(output_dir)!r} exists and is not a directory")

    arms_raw = data.get("arms")
    if not isinstance(arms_raw, list) or not arms_raw:
        raise ManifestError("'arms' must be a non-empty list")
    arms: list[Arm] = []
    for i, a in enumerate(arms_raw):
        if not isinstance(a, dict):
            raise ManifestError(f"arms[{i}] must be an object")
        name = a.get("name")
        if not isinstance(name, str) or not _ARM_NAME.match(name) or name in ("both", "setup"):
            raise ManifestError(f"arms[{i}].name must be a short identifier (letters, digits, _ . -), got {name!r}")
        if any(x.name == name for x in arms):
            raise ManifestError(f"arm name {name!r} appears twice")
        c = a.get("constitution")
        if not isinstance(c, dict) or not isinstance(c.get("files"), dict):
            raise ManifestError(f"arms[{i}].constitution.files is missing")
        cj = _resolve_path(c["files"].get("json"), base, f"arms[{i}].constitution.files.json")
        if not cj.is_file():
            raise ManifestError(f"constitution file {str(cj)!r} (arm {name!r}) does not exist")
        meta = {k: v for k, v in c.items() if k != "files"}
        arms.append(Arm(name=name, constitution_json=cj, constitution_meta=meta))

    run_id = data.get("run_id") or path.parent.name
    return Manifest(path=path, run_id=str(run_id), profile=profile, seed=seed, parameters=params,
                    overrides=dict(overrides), prompts_path=prompts_path, bbq_dir=bbq_dir,
                    output_dir=output_dir, arms=arms, raw=data, evals_dir=evals_dir)


def load(path: Path, prompts_override: Path | None = None) -> Manifest:
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise ManifestError(f"manifest {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"cannot read manifest {str(path)!r}: {e}") from None
    return parse(data, path, prompts_override)
