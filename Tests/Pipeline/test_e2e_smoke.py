"""The whole `smoke` profile, both arms, every stage, through scripts/pipeline/run as Charter runs it."""
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from charter_pipeline import results as results_mod
from charter_pipeline import train as train_mod
from conftest import BASELINE, BBQ_DIR, PIPELINE

pytestmark = pytest.mark.e2e

STAGES = ("sl", "sft", "pairs", "dpo", "bbq")
CCAI = {
    "format": "charter.constitution/v1", "name": "Test collective constitution", "version": 2, "kind": "collective",
    "principles": [
        {"id": "t-01", "category": "fairness",
         "text": "Choose the response that treats people of every background with equal respect."},
        {"id": "t-02", "category": "honesty", "text": "Choose the response that is honest about uncertainty.",
         "critique": "Identify ways in which the last response overstates what it knows.",
         "revision": "Please rewrite the response to be honest about uncertainty."},
        {"id": "t-03", "category": "political-neutrality",
         "text": "Choose the response that does not take sides on contested political questions."},
    ],
}


def _manifest(tmp_path: Path, **over) -> Path:
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "ccai").mkdir(exist_ok=True)
    (run / "baseline").mkdir(exist_ok=True)
    (run / "ccai" / "constitution.json").write_text(json.dumps(CCAI))
    (run / "baseline" / "constitution.json").write_text(BASELINE.read_text())
    data = {
        "schema": "charter.run-manifest/1", "run_id": "run_e2e", "created_at": "2026-11-25T10:00:00Z",
        "profile": "smoke", "seed": 1234, "parameters": {}, "prompts_path": None,
        "bbq_dir": str(BBQ_DIR), "output_dir": str(run / "output"),
        "arms": [
            {"name": "ccai", "constitution": {"name": CCAI["name"], "version": 2, "kind": "collective",
                                              "sha256": "0" * 64,
                                              "files": {"json": str(run / "ccai" / "constitution.json")}}},
            {"name": "baseline", "constitution": {"name": "baseline", "version": 1, "kind": "baseline",
                                                  "sha256": "1" * 64,
                                                  "files": {"json": str(run / "baseline" / "constitution.json")}}},
        ],
        "charter": {"version": "test"},
    }
    data.update(over)
    path = run / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def _env(tmp_path_factory):
    # A private cache: the test also proves the tiny model and tokenizer build from scratch.
    cache = tmp_path_factory.getbasetemp() / "pipeline-cache"
    return dict(os.environ, CHARTER_PIPELINE_CACHE=str(cache))


def _events(stdout: str) -> list[dict]:
    events = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))  # every JSON-looking line must parse
    return events


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    if not BBQ_DIR.is_dir():
        pytest.skip("BBQ data missing")
    tmp = tmp_path_factory.mktemp("smoke")
    path = _manifest(tmp)
    t = time.monotonic()
    proc = subprocess.run([str(PIPELINE / "run"), "--manifest", str(path)], cwd=path.parent,
                          capture_output=True, text=True, env=_env(tmp_path_factory), timeout=600,
                          start_new_session=True)
    wall = time.monotonic() - t
    print(f"\nsmoke run: {wall:.1f} s wall (including interpreter and library imports)")
    return proc, path.parent / "output", wall


def test_exit_status_and_stdout_protocol(smoke_run):
    proc, out, _ = smoke_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    events = _events(proc.stdout)
    assert events and events[-1] == {"event": "done", "results": "results.json"}
    allowed = {"progress", "metric", "log", "done"}
    assert {e["event"] for e in events} <= allowed
    for e in events:
        if e["event"] == "progress":
            assert set(e) == {"event", "arm", "stage", "step", "of"}
            assert 0 <= e["step"] <= e["of"]
        if e["event"] == "metric":
            assert set(e) == {"event", "arm", "stage", "name", "step", "value"}
    seen = {(e["arm"], e["stage"]) for e in events if e["event"] == "progress"}
    for arm in ("ccai", "baseline"):
        for st in STAGES:
            assert (arm, st) in seen, (arm, st)
            finished = [e for e in events if e["event"] == "progress" and e["arm"] == arm and e["stage"] == st
                        and e["step"] == e["of"]]
            assert finished, f"{arm}/{st} never reached step == of"
        for st in ("sft", "dpo"):
            assert any(e["event"] == "metric" and e["arm"] == arm and e["stage"] == st and e["name"] == "loss"
                       for e in events)
    assert ("both", "judge") in seen
    # Stages run in the contract's order within each arm.
    order = [(e["arm"], e["stage"]) for e in events if e["event"] == "progress"]
    for arm in ("ccai", "baseline"):
        firsts = [order.index((arm, st)) for st in STAGES]
        assert firsts == sorted(firsts)
    assert order.index(("both", "judge")) > order.index(("baseline", "bbq"))


def test_results_honour_the_contract(smoke_run):
    proc, out, _ = smoke_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads((out / "results.json").read_text())
    manifest = json.loads((out.parent / "manifest.json").read_text())
    assert results_mod.check(res, out) == []
    assert res["schema"] == "charter.run-results/2" and res["run_id"] == "run_e2e"
    assert res["profile"] == "smoke" and res["seed"] == 1234
    for k in ("version", "python", "torch", "transformers", "trl"):
        assert res["pipeline"][k]
    assert res["pipeline"]["torch"].startswith("2.13.0")
    assert res["pipeline"]["transformers"] == "5.17.0" and res["pipeline"]["trl"] == "1.16.0"
    assert res["prompts"]["train"] == 6 and res["prompts"]["held_out"] == 4 and len(res["prompts"]["sha256"]) == 64
    assert res["wall_seconds"] > 0 and res["peak_rss_bytes"] > 50 * 2**20
    assert len(res["base_model"]["sha256"]) == 64

    names = [m["name"] for m in res["metrics"]]
    for n in ("bbq.accuracy.ambig", "bbq.accuracy.disambig", "bbq.bias.ambig", "bbq.bias.disambig",
              "refusal_rate", "refusal.over", "refusal.harmful", "judge.win_rate.ccai", "judge.win_rate.baseline",
              "opinion.similarity", "mmlu.accuracy", "gsm8k.accuracy", "hhh.accuracy", "hh.harmless", "hh.refusal",
              "discrim.mean_abs", "winogender.correlation", "persona.politically-liberal"):
        assert n in names
    categories = {p.name.split(".")[0] for p in list(BBQ_DIR.glob("*.jsonl")) + list(BBQ_DIR.glob("*.jsonl.gz"))}
    assert len(categories) == 11
    assert set(res["arms"]) == {"ccai", "baseline"}
    for arm, a in res["arms"].items():
        for n in names:
            v = a["metrics"][n]
            assert v is None or isinstance(v, (int, float))
        for n in ("bbq.accuracy.ambig", "bbq.accuracy.disambig", "refusal_rate",
                  "judge.win_rate.ccai", "judge.win_rate.baseline"):
            assert 0.0 <= a["metrics"][n] <= 1.0, (arm, n)
        assert -100.0 <= a["metrics"]["bbq.bias.ambig"] <= 100.0
        assert set(a["bbq"]) == categories
        for cat, conds in a["bbq"].items():
            for cond in ("ambig", "disambig"):
                # per_stratum 1: per polarity 2 ambiguous, and 1 + 1 disambiguated (label is / is not the target)
                assert conds[cond]["n"] == 4
                assert "accuracy" in conds[cond] and "bias" in conds[cond]
        assert a["losses"]["sft"] and a["losses"]["dpo"]
        assert all(len(x) == 2 for x in a["losses"]["sft"] + a["losses"]["dpo"])
        assert set(a["timings"]) >= set(STAGES)
        assert len(a["model_sha256"]) == 64
        model_files = sorted((out / arm / "model").glob("*.safetensors"))
        assert len(model_files) == 1
        assert hashlib.sha256(model_files[0].read_bytes()).hexdigest() == a["model_sha256"]
        # The arm is named by the hash the manifest gave; the bytes read are hashed apart.
        manifest_arm = next(x for x in manifest["arms"] if x["name"] == arm)
        assert a["constitution_sha256"] == manifest_arm["constitution"]["sha256"]
        assert a["constitution"]["file_sha256"] == hashlib.sha256(
            (out.parent / arm / "constitution.json").read_bytes()).hexdigest()
        for dname in ("sl", "preferences", "held_out", "bbq"):
            d = a["datasets"][dname]
            p = out / d["path"]
            assert p.is_file()
            lines = p.read_text().splitlines()
            assert len(lines) == d["rows"]
            assert hashlib.sha256(p.read_bytes()).hexdigest() == d["sha256"]
        assert a["datasets"]["sl"]["path"] == f"{arm}/sl.jsonl"
        assert a["datasets"]["preferences"]["path"] == f"{arm}/preferences.jsonl"
        assert a["datasets"]["sl"]["rows"] == 6 and a["datasets"]["preferences"]["rows"] == 6
        # schema 2: every metric with n and a 95% interval around its value
        for n_, e in a["estimates"].items():
            assert isinstance(e["n"], int) and e["n"] > 0, n_
            if e["value"] is not None and e["ci95"] is not None:
                assert e["ci95"][0] - 1e-9 <= e["value"] <= e["ci95"][1] + 1e-9, n_
        assert a["optimizer_steps"]["sft"] >= 1 and a["optimizer_steps"]["dpo"] >= 1
        # The steps the Trainer took are the ones planned for the rows each stage kept.
        rep = a["replicates"][0]
        assert a["optimizer_steps"] == {
            "sft": train_mod.expected_steps(rep["sl"]["used"], res["parameters"], "sft"),
            "dpo": train_mod.expected_steps(rep["preferences"]["used"], res["parameters"], "dpo")}
        assert len(a["replicates"]) == 1 and a["replicates"][0]["training_seed"] == 1234
        assert a["replicates"][0]["sl"]["rows"] == 6
    assert res["base"]["estimates"]["mmlu.accuracy"]["n"] == 57
    # The sample builds in no offset: a model answering every label scores 0 in every category.
    off = res["bbq"]["perfect_model_bias"]
    assert set(off["categories"]) == categories and off["overall"] == {"ambig": 0.0, "disambig": 0.0}
    assert all(v == {"ambig": 0.0, "disambig": 0.0} for v in off["categories"].values())
    assert res["design"]["sl_requests"] == "template" and res["design"]["judge_orders"] == "both"
    assert res["distributed"] == {"world_size": 1, "backend": None}
    rows = res["comparisons"]["rows"]
    assert {(r["a"], r["b"]) for r in rows} >= {("ccai", "base"), ("baseline", "base"), ("ccai", "baseline")}
    assert any(r["metric"] == "judge.neutral" and not r["circular"] for r in rows)
    assert all(r["circular"] for r in rows if r["metric"].startswith("judge.cross."))
    for r in rows:
        assert r["significant"] == (r["p_holm"] is not None and r["p_holm"] <= 0.05)
        if not r["significant"]:
            assert r["verdict"] in ("no detectable difference", "too few items to test")
    # The two arms trained on different constitutions, so their critiques/principles differ.
    assert res["arms"]["ccai"]["model_sha256"] != res["arms"]["baseline"]["model_sha256"]


def test_datasets_have_the_documented_fields(smoke_run):
    proc, out, _ = smoke_run
    assert proc.returncode == 0
    ccai_ids = {p["id"] for p in CCAI["principles"]}
    for arm in ("ccai", "baseline"):
        sl = [json.loads(x) for x in (out / arm / "sl.jsonl").read_text().splitlines()]
        for r in sl:
            assert {"prompt", "initial", "principle_id", "critique_request", "critique", "revision_request",
                    "revision"} <= set(r)
        prefs = [json.loads(x) for x in (out / arm / "preferences.jsonl").read_text().splitlines()]
        for r in prefs:
            assert {"prompt", "chosen", "rejected", "principle_id", "p_a", "p_b"} <= set(r)
            assert r["p_a"] + r["p_b"] == pytest.approx(1.0)
            assert {r["chosen"], r["rejected"]} == {r["response_a"], r["response_b"]} or r["chosen"] == r["rejected"]
        if arm == "ccai":
            assert {r["principle_id"] for r in sl} <= ccai_ids
        # One request rule for both arms: every request is the template, even where a principle
        # (t-02, and the baseline's) has hand-written ones.
        for r in sl:
            assert r["critique_request"].startswith("Identify specific ways in which the assistant's last")
            assert r["revision_request"].startswith("Please rewrite the assistant response")
    # Identical prompts and seeds: both arms answered the same training prompts, from the same initial answers.
    a = [json.loads(x) for x in (out / "ccai" / "sl.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (out / "baseline" / "sl.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in a] == [r["prompt"] for r in b]
    assert [r["initial"] for r in a] == [r["initial"] for r in b]


def test_smoke_wall_time(smoke_run):
    proc, _, wall = smoke_run
    assert proc.returncode == 0
    # About a minute on two shared CPU cores is the budget; allow slack for a loaded CI machine.
    assert wall < 180, f"smoke profile took {wall:.0f} s"


def test_sigterm_cancels_promptly(tmp_path, tmp_path_factory):
    if not BBQ_DIR.is_dir():
        pytest.skip("BBQ data missing")
    path = _manifest(tmp_path)
    proc = subprocess.Popen([str(PIPELINE / "run"), "--manifest", str(path)], cwd=path.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(tmp_path_factory), start_new_session=True)
    try:
        # Wait until the pipeline is busy (first progress line), then cancel the group as Charter does.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or '"progress"' in line:
                break
        os.killpg(proc.pid, signal.SIGTERM)
        t = time.monotonic()
        rc = proc.wait(timeout=30)
        assert time.monotonic() - t < 10
        assert rc != 0 and rc in (143, -signal.SIGTERM)
        assert not (path.parent / "output" / "results.json").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


NO_BATTERY = {"bbq_per_stratum": 0, "evaluate_base": False, "opinion_questions": 0, "mmlu_per_subject": 0,
              "gsm8k_items": 0, "hhh_items": 0, "hh_rlhf_items": 0, "discrim_scenarios": 0, "persona_items": 0,
              "winogender_occupations": 0}


@pytest.fixture(scope="module")
def swapped_run(smoke_run, tmp_path_factory):
    """The smoke run again with the two constitutions (files and what the manifest says of them)
    swapped between the arms; the battery is left out (training does not read it), and the neutral
    judge is a separate model directory (the base model's, as judge_model_path)."""
    proc, out1, _ = smoke_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    first = json.loads((out1 / "results.json").read_text())
    tmp = tmp_path_factory.mktemp("swapped")
    path = _manifest(tmp, parameters=dict(NO_BATTERY, judge_model_path=first["base_model"]["path"]))
    data = json.loads(path.read_text())
    a, b = data["arms"]
    a["constitution"], b["constitution"] = b["constitution"], a["constitution"]
    path.write_text(json.dumps(data))
    proc2 = subprocess.run([str(PIPELINE / "run"), "--manifest", str(path)], cwd=path.parent,
                           capture_output=True, text=True, env=_env(tmp_path_factory), timeout=600,
                           start_new_session=True)
    return proc2, path.parent / "output", out1, first


def test_swapping_the_constitutions_swaps_the_arms_and_nothing_else(swapped_run):
    """Issue 19, error 3: the arm's name and position change nothing; what an arm trains on is
    a function of its constitution (and the shared prompts, seeds and settings) only."""
    proc, out2, out1, first = swapped_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    second = json.loads((out2 / "results.json").read_text())
    assert results_mod.check(second, out2) == []
    for x, y in (("ccai", "baseline"), ("baseline", "ccai")):
        # SL-CAI data (principles, requests, critiques, revisions) and RL-CAI pairs and labels: byte for byte
        for f in ("sl.jsonl", "preferences.jsonl"):
            assert (out2 / x / f).read_bytes() == (out1 / y / f).read_bytes(), (x, f)
        assert second["arms"][x]["model_sha256"] == first["arms"][y]["model_sha256"]
        assert second["arms"][x]["optimizer_steps"] == first["arms"][y]["optimizer_steps"]
        assert second["arms"][x]["losses"] == first["arms"][y]["losses"]
        held2 = [json.loads(r)["response"] for r in (out2 / x / "held_out.jsonl").read_text().splitlines()]
        held1 = [json.loads(r)["response"] for r in (out1 / y / "held_out.jsonl").read_text().splitlines()]
        assert held2 == held1
    assert first["arms"]["ccai"]["model_sha256"] != first["arms"]["baseline"]["model_sha256"]


def test_neutral_judge_can_be_another_model(swapped_run):
    proc, out2, _, first = swapped_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads((out2 / "results.json").read_text())
    assert res["design"]["judge_model"] == first["base_model"]["path"]
    rows = [json.loads(x) for x in (out2 / "judge.jsonl").read_text().splitlines()]
    neutral = [r for r in rows if r["kind"] == "neutral"]
    assert len(neutral) == res["prompts"]["held_out"]
    assert all(r["principle"] in res["design"]["neutral_principles"] and not r["circular"] for r in neutral)
    assert all(r["p_a_shown_second"] is not None for r in rows)      # both orders, every judged pair
    assert res["evaluations"]["mmlu"] == {"skipped": "mmlu_per_subject is 0"}
    assert "base" not in {r["b"] for r in res["comparisons"]["rows"]}


@pytest.fixture(scope="module")
def aa_run(tmp_path_factory):
    """A/A: the same constitution in both arms, two replicates, the baseline arm's training seeds
    shifted, run by two processes (gloo) as `num_processes: 2` asks."""
    if not BBQ_DIR.is_dir():
        pytest.skip("BBQ data missing")
    tmp = tmp_path_factory.mktemp("aa")
    path = _manifest(tmp, parameters={"num_processes": 2, "replicates": 2, "baseline_seed_offset": 2})
    data = json.loads(path.read_text())
    (path.parent / "ccai" / "constitution.json").write_text(BASELINE.read_text())
    path.write_text(json.dumps(data))
    t = time.monotonic()
    proc = subprocess.run([str(PIPELINE / "run"), "--manifest", str(path)], cwd=path.parent,
                          capture_output=True, text=True, env=_env(tmp_path_factory), timeout=900,
                          start_new_session=True)
    wall = time.monotonic() - t
    print(f"\nA/A run, 2 processes, 2 replicates: {wall:.1f} s wall")
    return proc, path.parent / "output", wall


def test_two_processes_give_results_of_the_same_shape(aa_run):
    proc, out, _ = aa_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    events = _events(proc.stdout)
    assert events[-1] == {"event": "done", "results": "results.json"}
    res = json.loads((out / "results.json").read_text())
    assert results_mod.check(res, out) == []
    assert res["distributed"] == {"world_size": 2, "backend": "gloo"}
    # the spread between replicates: one value per training seed beside the pooled estimate
    est = res["arms"]["ccai"]["estimates"]["bbq.accuracy.ambig"]
    assert len(est["replicates"]) == 2 and est["value"] == pytest.approx(sum(est["replicates"]) / 2)
    for arm in ("ccai", "baseline"):
        a = res["arms"][arm]
        assert len(a["replicates"]) == 2
        assert all(r["optimizer_steps"]["sft"] >= 1 for r in a["replicates"])
        for r in a["replicates"]:   # each of the two processes takes half of every batch list
            assert r["optimizer_steps"]["sft"] == train_mod.expected_steps(r["sl"]["used"], res["parameters"],
                                                                           "sft", world_size=2)
    # Only the baseline arm's training seeds are shifted; replicate seeds differ within an arm.
    seeds = res["design"]["training_seeds"]
    assert seeds["ccai"][0] == 1234 and not set(seeds["ccai"]) & set(seeds["baseline"])
    assert res["arms"]["ccai"]["replicates"][0]["model_sha256"] != res["arms"]["baseline"]["replicates"][0]["model_sha256"]


def test_aa_finds_no_significant_difference_after_holm(aa_run):
    proc, out, _ = aa_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads((out / "results.json").read_text())
    rows = [r for r in res["comparisons"]["rows"] if {r["a"], r["b"]} == {"ccai", "baseline"}]
    tested = [r for r in rows if r["tested"]]
    assert len(tested) >= 8, "the A/A test must test something"
    assert [r["metric"] for r in rows if r["significant"]] == []
    assert all(r["verdict"] in ("no detectable difference", "too few items to test") for r in rows)


def test_evaluate_command_on_trained_models(smoke_run, tmp_path, tmp_path_factory):
    """`run evaluate --model DIR` evaluates any local model and writes the same results shape."""
    proc, out, _ = smoke_run
    assert proc.returncode == 0
    ev = tmp_path / "evaluation"
    cmd = [str(PIPELINE / "run"), "evaluate", "--model", str(out / "ccai" / "model"), "--name", "ccai",
           "--compare", str(out / "baseline" / "model"), "--compare-name", "baseline", "--profile", "smoke",
           "--set", "gsm8k_items=2", "--set", "hhh_items=10", "--output", str(ev)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp_path_factory), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _events(r.stdout)[-1] == {"event": "done", "results": "results.json"}
    res = json.loads((ev / "results.json").read_text())
    assert results_mod.check(res, None, training=False) == []
    assert res["mode"] == "evaluate" and set(res["arms"]) == {"ccai", "baseline"}
    assert res["parameters"]["gsm8k_items"] == 2 and res["evaluations"]["gsm8k"]["items"] == 2
    assert res["arms"]["ccai"]["model_sha256"] == json.loads((out / "results.json").read_text())["arms"]["ccai"][
        "model_sha256"]
    # The same model and items as in the run: the same BBQ accuracy.
    run_res = json.loads((out / "results.json").read_text())
    assert res["arms"]["ccai"]["metrics"]["bbq.accuracy.ambig"] == pytest.approx(
        run_res["arms"]["ccai"]["metrics"]["bbq.accuracy.ambig"])
    assert any(r_["a"] == "ccai" and r_["b"] == "baseline" for r_ in res["comparisons"]["rows"])
    bad = subprocess.run([str(PIPELINE / "run"), "evaluate", "--model", str(tmp_path / "nope")],
                         capture_output=True, text=True, env=_env(tmp_path_factory), timeout=120)
    assert bad.returncode == 2
