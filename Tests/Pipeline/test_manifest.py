"""Manifest reading and validation, in-process and through the real command line."""
import json
import os
import subprocess
import sys

import pytest

from charter_pipeline import manifest, profiles
from conftest import BASELINE, BBQ_DIR, PIPELINE


def make(tmp_path, **over):
    data = {
        "schema": "charter.run-manifest/1", "run_id": "run_test", "created_at": "2026-11-25T10:00:00Z",
        "profile": "smoke", "seed": 1234, "parameters": {}, "prompts_path": None,
        "bbq_dir": str(BBQ_DIR), "output_dir": str(tmp_path / "output"),
        "arms": [{"name": "ccai", "constitution": {"files": {"json": str(BASELINE)}}},
                 {"name": "baseline", "constitution": {"files": {"json": str(BASELINE)}}}],
    }
    data.update(over)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def test_valid_manifest(tmp_path, bbq_dir):
    m = manifest.load(make(tmp_path, parameters={"prompts": 3, "sft_lr": 1, "lora": True}))
    assert m.profile == "smoke" and m.seed == 1234 and [a.name for a in m.arms] == ["ccai", "baseline"]
    assert m.parameters["prompts"] == 3 and m.parameters["sft_lr"] == 1.0 and m.parameters["lora"] is True
    assert m.parameters["held_out"] == profiles.defaults("smoke")["held_out"]


@pytest.mark.parametrize("schema", ["charter.run-manifest/2", "charter.run-manifest/0", "other/1",
                                    "charter.run-manifest", None, "charter.run-manifest/x"])
def test_unknown_schema_is_refused(tmp_path, bbq_dir, schema):
    with pytest.raises(manifest.ManifestError):
        manifest.load(make(tmp_path, schema=schema))


def test_minor_version_is_accepted(tmp_path, bbq_dir):
    assert manifest.load(make(tmp_path, schema="charter.run-manifest/1.3")).profile == "smoke"


@pytest.mark.parametrize("params,needle", [
    ({"no_such_knob": 1}, "unknown parameter"),
    ({"prompts": "eight"}, "integer"),
    ({"prompts": 2.5}, "integer"),
    ({"lora": 1}, "true or false"),
    ({"bbq_scoring": "vibes"}, "one of"),
    ({"prompts": 0}, "at least 1"),
])
def test_bad_parameters(tmp_path, bbq_dir, params, needle):
    with pytest.raises(manifest.ManifestError, match=needle):
        manifest.load(make(tmp_path, parameters=params))


def test_gpu_profile_needs_model_path(tmp_path, bbq_dir):
    with pytest.raises(manifest.ManifestError, match="model_path"):
        manifest.load(make(tmp_path, profile="gpu"))
    with pytest.raises(manifest.ManifestError, match="not a directory"):
        manifest.load(make(tmp_path, profile="gpu", parameters={"model_path": str(tmp_path / "nope")}))


@pytest.mark.parametrize("over,needle", [
    ({"profile": "huge"}, "profile"),
    ({"bbq_dir": "/nonexistent/bbq"}, "bbq_dir"),
    ({"prompts_path": "/nonexistent/p.jsonl"}, "prompts file"),
    ({"arms": []}, "arms"),
    ({"arms": [{"name": "a b", "constitution": {"files": {"json": str(BASELINE)}}}]}, "name"),
    ({"arms": [{"name": "x", "constitution": {"files": {"json": "/nonexistent.json"}}}]}, "does not exist"),
    ({"arms": [{"name": "x", "constitution": {"files": {"json": str(BASELINE)}}},
               {"name": "x", "constitution": {"files": {"json": str(BASELINE)}}}]}, "twice"),
    ({"seed": -1}, "seed"),
])
def test_bad_manifest_fields(tmp_path, bbq_dir, over, needle):
    with pytest.raises(manifest.ManifestError, match=needle):
        manifest.load(make(tmp_path, **over))


def test_relative_paths_resolve_against_the_run_folder(tmp_path, bbq_dir):
    (tmp_path / "c.json").write_text(BASELINE.read_text())
    m = manifest.load(make(tmp_path, output_dir="output",
                           arms=[{"name": "a", "constitution": {"files": {"json": "c.json"}}}]))
    assert m.output_dir == tmp_path / "output" and m.arms[0].constitution_json == tmp_path / "c.json"


def _cli(tmp_path, path):
    env = dict(os.environ, PYTHONPATH=str(PIPELINE))
    return subprocess.run([sys.executable, "-m", "charter_pipeline", "--manifest", str(path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)


def test_cli_refuses_unknown_major_version_with_exit_2(tmp_path, bbq_dir):
    r = _cli(tmp_path, make(tmp_path, schema="charter.run-manifest/2"))
    assert r.returncode == 2
    assert "major version 2" in r.stderr
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            json.loads(line)
    assert not (tmp_path / "output" / "results.json").exists()


def test_cli_unknown_parameter_exit_2(tmp_path, bbq_dir):
    r = _cli(tmp_path, make(tmp_path, parameters={"epochz": 3}))
    assert r.returncode == 2 and "unknown parameter" in r.stderr and "'epochz'" in r.stderr


def test_cli_missing_manifest_exit_2(tmp_path):
    r = _cli(tmp_path, tmp_path / "missing.json")
    assert r.returncode == 2 and "does not exist" in r.stderr
