"""Bootstrap intervals, paired differences and the Holm correction on known cases."""
import numpy as np
import pytest

from charter_pipeline import report, stats
from charter_pipeline.evals import Metric, Outcome


def test_holm_by_hand():
    # m = 4; sorted p: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.5 (x1 = 0.5)
    adj, rej = stats.holm([0.03, 0.5, 0.01, 0.02], alpha=0.05)
    assert adj == pytest.approx([0.06, 0.5, 0.04, 0.06])
    assert rej == [False, False, True, False]
    adj, rej = stats.holm([None, 0.001], 0.05)
    assert adj == [None, 0.001] and rej == [False, True]


def test_bootstrap_interval_of_a_mean():
    x = np.array([[1.0]] * 30 + [[0.0]] * 70)
    b = stats.Bootstrap(100, 1, 2000, seed=1)
    e = b.estimate([x], stats.mean_stat)
    assert e.value == pytest.approx(0.3) and e.n == 100
    # normal approximation: 0.3 +- 1.96 * sqrt(0.21 / 100) = [0.21, 0.39]
    assert e.ci95[0] == pytest.approx(0.21, abs=0.03) and e.ci95[1] == pytest.approx(0.39, abs=0.03)


def test_paired_difference_sees_what_unpaired_intervals_hide():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 1))
    x, y = base + 0.1, base          # the same items, shifted by 0.1: overlapping intervals, clear pairing
    b = stats.Bootstrap(200, 1, 1000, seed=2)
    d = b.difference([x], [y], stats.mean_stat)
    assert d["difference"] == pytest.approx(0.1)
    assert d["difference_ci95"][0] == pytest.approx(0.1) and d["p_value"] <= 0.002
    same = b.difference([base], [base.copy()], stats.mean_stat)
    assert same["difference"] == 0.0 and same["p_value"] == 1.0


def test_replicates_add_seed_variance():
    items = np.zeros((50, 1))
    reps_a = [items + 0.0, items + 1.0, items + 0.5]
    reps_b = [items + 0.5, items + 0.5, items + 0.5]
    b = stats.Bootstrap(50, 3, 1000, seed=3)
    e = b.estimate(reps_a, stats.mean_stat)
    assert e.value == pytest.approx(0.5) and e.replicates == [0.0, 1.0, 0.5]
    assert e.ci95[0] < 0.25 and e.ci95[1] > 0.75   # no item variance at all: the width is the seeds'
    d = b.difference(reps_a, reps_b, stats.mean_stat)
    assert d["p_value"] > 0.05


def test_pearson_from_sums():
    x = [1.0, 2.0, 3.0, 4.0]
    y = [2.0, 4.1, 5.9, 8.2]
    r = stats.pearson_stat(stats.pearson_features(x, y).sum(axis=0), 4)
    assert r == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert np.isnan(stats.pearson_stat(stats.pearson_features([1, 1, 1], [1, 2, 3]).sum(axis=0), 3))


def _outcome(values, name="m", better="higher"):
    return {"ev": Outcome([Metric(name, "label", better, np.array(values, dtype=float).reshape(-1, 1),
                                  stats.mean_stat, "ev")])}


def test_report_names_a_winner_only_after_holm():
    n = 200
    good = [1.0] * 150 + [0.0] * 50
    bad = [1.0] * 50 + [0.0] * 150
    est, block = report.build({"x": [_outcome(good)], "y": [_outcome(bad)]}, [("x", "y")], 1000, 1, 0.05)
    row = block["rows"][0]
    assert row["significant"] and row["verdict"] == "x better" and row["n"] == n
    assert est["x"]["m"]["value"] == 0.75 and est["x"]["m"]["ci95"][0] < 0.75 < est["x"]["m"]["ci95"][1]
    est, block = report.build({"x": [_outcome(good[:8] + bad[:4])], "y": [_outcome(bad[:12])]}, [("x", "y")],
                              500, 1, 0.05)
    assert block["rows"][0]["verdict"] in (report.NO_DIFFERENCE, report.TOO_FEW)
    assert block["too_small_to_detect"]


def test_zero_is_best_and_none_has_no_winner():
    assert report.verdict("zero", "a", "b", -2.0, 10.0, -12.0, True) == "a better"
    assert report.verdict("lower", "a", "b", 0.1, 0.3, -0.2, True) == "a better"
    assert report.verdict("none", "a", "b", 0.6, 0.4, 0.2, True) == "a higher"
    assert report.verdict("higher", "a", "b", 0.6, 0.4, 0.2, False) == report.NO_DIFFERENCE
