"""Retraining from a user's labelled calls: learning curve, held-out comparison, promotion guard, bad input.

Fast: synthetic call features and models built by hand, no text models. The
whole path on a real corpus is in test_risk_training.py and
tests/integration/test_risk_commands.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from callradar.models.call_features import FEATURE_NAMES
from callradar.models.registry import PROMOTION_AUROC_TOLERANCE, Registry, heldout_regression, read_card
from callradar.models.risk import RiskModel
from callradar.pipeline.cli.main import main
from callradar.training.evaluate import (
    curve_points,
    heldout_comparison,
    learning_curve,
    prior_model,
    stratified_subsample,
)
from callradar.training.features import CallFeatures
from callradar.training.labelled_calls import CallUtterance, LabelledCall
from callradar.training.risk import MIN_CALLS_PER_OUTCOME, learnt_reasons, split_heldout, whole_call_note


def call(i: int, escalated: bool, signal: float = 1.0) -> CallFeatures:
    """Three prefixes; ``intent_max`` rises to ``signal`` at the end of an escalated call."""
    utts = [CallUtterance("customer", t, t + 2.0, "x") for t in (0.0, 5.0, 10.0)]
    c = LabelledCall(f"c{i:03d}", "escalated" if escalated else "calm", utts,
                     escalation_time=10.0 if escalated else None)
    rows = []
    for k in range(3):
        row = dict.fromkeys(FEATURE_NAMES, 0.0)
        row["intent_max"] = signal * (k == 2) if escalated else 0.1 * k
        rows.append(row)
    return CallFeatures(c, rows, np.array([2.0, 7.0, 12.0]))


def one_feature_model(weight: float, version: str = "m") -> RiskModel:
    return RiskModel(["intent_max"], [weight], [0.3], [0.3], -1.0, version)


def cfs_of(n_esc: int, n_calm: int) -> list[CallFeatures]:
    return [call(i, i < n_esc) for i in range(n_esc + n_calm)]


# ---------------------------------------------------------------- learning curve


@pytest.mark.parametrize("n, expected", [(1500, [100, 300, 1000, 1500]), (1000, [100, 300, 1000]),
                                         (500, [100, 300, 500]), (150, [37, 75, 100, 150]), (40, [10, 20, 40])])
def test_curve_points_are_the_usual_sizes_or_as_many_calls_as_there_are(n, expected):
    assert curve_points(n) == expected


def test_a_subsample_keeps_whole_calls_and_the_outcome_mix():
    cfs = cfs_of(10, 90)
    sample = stratified_subsample(cfs, 40, seed=3)
    assert len(sample) == 40 and len({cf.call.call_id for cf in sample}) == 40
    assert sum(cf.call.outcome == "escalated" for cf in sample) == 4  # 10 % as in the whole
    assert [cf.call.call_id for cf in stratified_subsample(cfs, 40, seed=3)] == [cf.call.call_id for cf in sample]
    rare = stratified_subsample(cfs_of(3, 97), 20, seed=0)  # 3 % of 20 rounds to 1: still two, for CV
    assert sum(cf.call.outcome == "escalated" for cf in rare) == 2


def test_learning_curve_points_hold_each_draw_and_its_spread():
    train, heldout = cfs_of(30, 170), cfs_of(10, 40)
    seen = []

    def fit(sample, seed):
        seen.append((len(sample), seed, sum(cf.call.outcome == "escalated" for cf in sample)))
        # on the largest samples every draw finds the signal; on the smallest only the first one does
        return one_feature_model(1.0 if len(sample) >= 150 or seed == 0 else 0.0)

    curve = learning_curve(train, heldout, fit, threshold=0.6, sizes=(100, 150, 1000), seeds=3)
    assert [p["calls"] for p in curve] == [100, 150, 200]
    assert sorted(seen) == sorted((n, s, k) for n, k in ((100, 15), (150, 22), (200, 30)) for s in range(3))
    small, big = curve[0], curve[-1]
    assert len(small["auroc"]) == 3 and small["seeds"] == 3 and small["escalated"] == 15
    assert big["auroc_mean"] == 1.0 and big["auroc_sd"] == 0.0
    assert small["auroc"] == [1.0, 0.5, 0.5]  # one draw finds it, two are at chance
    assert small["auroc_mean"] == pytest.approx(2 / 3, abs=1e-4) and small["auroc_sd"] == pytest.approx(0.2357, abs=1e-3)
    assert small["auroc_mean"] == pytest.approx(np.mean(small["auroc"]), abs=1e-4)


# ---------------------------------------------------------------- held-out split and comparison


def test_the_heldout_split_is_stratified_whole_calls_and_independent_of_file_order():
    calls = [c.call for c in cfs_of(20, 80)]
    train, held = split_heldout(calls, 0.25, seed=1)
    assert len(held) == 25 and sum(c.outcome == "escalated" for c in held) == 5
    assert not {c.call_id for c in train} & {c.call_id for c in held} and len(train) + len(held) == 100
    again = split_heldout(list(reversed(calls)), 0.25, seed=1)[1]
    assert {c.call_id for c in again} == {c.call_id for c in held}
    few = split_heldout([c.call for c in cfs_of(MIN_CALLS_PER_OUTCOME, MIN_CALLS_PER_OUTCOME)], 0.25, seed=0)
    for part in few:  # the smallest accepted file still leaves both outcomes on both sides
        assert {c.outcome for c in part} == {"escalated", "calm"}


def test_the_comparison_records_both_models_on_the_same_calls():
    heldout = cfs_of(10, 30)
    comp = heldout_comparison(one_feature_model(1.0, "new"), one_feature_model(0.0, "old"), heldout, 0.6,
                              heldout_info={"source": "split"}, baseline_info={"registry_version": "v3"})
    assert comp["heldout"] == {"source": "split", "calls": 40, "escalated": 10}
    assert comp["baseline"] == {"registry_version": "v3", "model_version": "old"}
    assert comp["new"]["auroc"] == 1.0 and comp["baseline_metrics"]["auroc"] == 0.5
    assert comp["auroc_difference"] == pytest.approx(comp["new"]["auroc"] - comp["baseline_metrics"]["auroc"])
    for key in ("auroc_end_of_call", "pr_auc", "precision", "recall", "median_lead_time_s"):
        assert key in comp["new"] and key in comp["baseline_metrics"]


def test_labels_for_whole_calls_get_both_readings_named_and_dated_ones_no_note():
    heldout = {"auroc": 0.661, "auroc_end_of_call": 0.733}
    note = whole_call_note({"labels": {"escalated": 251, "escalated_whole_call": 251}, "metrics": {"heldout": heldout}})
    assert note.startswith("251 of 251 escalated training calls have no escalation time")
    assert "highest risk over the call) ranks them at call AUROC 0.661" in note
    assert "the risk at the call's end at 0.733" in note and "CALLRADAR_FOLLOW_UP_RISK" in note
    assert whole_call_note({"labels": {"escalated": 40, "escalated_whole_call": 0}, "metrics": {"heldout": heldout}}) is None
    assert whole_call_note({"labels": {"horizon_s": 20.0}, "metrics": {}}) is None  # a card from before the count


def test_reasons_learnt_are_the_largest_weights_in_words():
    model = RiskModel(["kw_supervisor_request", "cust_neg_ewma", "cust_turns"], [0.2, 1.5, -0.7],
                      [0.1, 0.3, 5.0], [0.3, 0.2, 2.0], 0.0, "m")
    reasons = learnt_reasons(model, top=2)
    assert [r["feature"] for r in reasons] == ["cust_neg_ewma", "cust_turns"]
    assert reasons[0]["words"] == "customer negative in the last few utterances"
    assert reasons[1]["direction"] == "lower raises risk" and reasons[1]["words"] == "few customer turns so far"


def test_a_rare_count_learnt_as_a_reason_is_said_at_least_once():
    # corrections: mean 0.05, sd 0.2; one sd above the mean rounds to 0, which would read "corrected the agent 0 times"
    model = RiskModel(["cust_corrections", "cust_repeats", "cust_unanswered"], [0.4, 0.3, 0.2], [0.05, 1.2, 0.02],
                      [0.2, 1.0, 0.1], 0.0, "m")
    words = [r["words"] for r in learnt_reasons(model)]
    assert words == ["customer corrected the agent once", "customer repeated the same request twice",
                     "customer questions left unanswered: 1"]


# ---------------------------------------------------------------- the promotion guard


def comparison(new_auroc: float, base_auroc: float, base_sha: str | None, base_version: str = "m-1") -> dict:
    return {"heldout": {"calls": 200, "escalated": 30}, "threshold": 0.6,
            "baseline": {"registry_version": "v1", "model_version": base_version, "model_sha256": base_sha},
            "new": {"auroc": new_auroc}, "baseline_metrics": {"auroc": base_auroc}}


def test_heldout_regression_refuses_only_a_model_worse_beyond_the_tolerance():
    replaced = ("v1", {"version": "m-1", "sha256": "abc"})
    worse = heldout_regression("v2", {"heldout_comparison": comparison(0.70, 0.75, "abc")}, replaced)
    assert "did worse than risk v1" in worse and "0.700 against 0.750" in worse and "200 calls" in worse
    within = comparison(0.75 - PROMOTION_AUROC_TOLERANCE / 2, 0.75, "abc")
    assert heldout_regression("v2", {"heldout_comparison": within}, replaced) is None
    assert heldout_regression("v2", {"heldout_comparison": comparison(0.8, 0.75, "abc")}, replaced) is None
    assert heldout_regression("v2", {}, replaced) is None  # nothing recorded: a model from elsewhere
    other = heldout_regression("v2", {"heldout_comparison": comparison(0.9, 0.75, "def")}, replaced)
    assert "not with risk v1" in other  # compared with another model: says nothing about this one
    by_version = heldout_regression("v2", {"heldout_comparison": comparison(0.9, 0.75, None)}, replaced)
    assert by_version is None  # no hash recorded: the model version identifies it


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """v1 promoted; v2 worse than v1 on its held-out calls, v3 better; v4 with no comparison; v5 better, but
    seldom reaching the live threshold."""
    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path / "state"))
    prior = prior_model().to_dict()
    reg = Registry(tmp_path / "models")

    def add(version: str, card: dict) -> str:
        folder = RiskModel.from_dict({**prior, "version": version}).save(tmp_path / version, card)
        return reg.add("risk", folder)

    add("m-1", {})
    reg.promote("risk", "v1")
    v1_sha = read_card(reg.path("risk", "v1"))["sha256"]
    add("m-2", {"heldout_comparison": comparison(0.61, 0.70, v1_sha)})
    add("m-3", {"heldout_comparison": comparison(0.72, 0.70, v1_sha)})
    add("m-4", {})
    quiet = {**comparison(0.72, 0.70, v1_sha), "operating_point": {"threshold": 0.34, "false_alarm_rate": 0.15,
                                                                  "recall": 0.35}}
    quiet["new"].update(false_alarm_rate=0.003, recall=0.008)
    quiet["baseline_metrics"].update(false_alarm_rate=0.17, recall=0.37)
    add("m-5", {"heldout_comparison": quiet})
    return reg


def models(reg, *args) -> int:
    return main(["models", "--models", str(reg.root), *args])


def test_promote_refuses_a_model_that_did_worse_on_its_heldout_calls(registry, capsys):
    assert models(registry, "promote", "risk", "v2") == 2
    err = capsys.readouterr().err.strip()
    assert "refused: risk v2 did worse than risk v1" in err and "--force" in err and "\n" not in err
    assert registry.current("risk") == "v1"
    assert [h["action"] for h in registry.history("risk")].count("promote") == 1


def test_promote_force_overrides_the_guard_and_says_so_in_the_history(registry, capsys):
    assert models(registry, "promote", "risk", "v2", "--force", "--note", "trying it") == 0
    out = capsys.readouterr()
    assert "promoted risk v2 (was v1)" in out.out and "warning: forced: risk v2 did worse" in out.err
    last = registry.history("risk")[-1]
    assert last["action"] == "promote" and last["note"].startswith("trying it; forced: risk v2 did worse")
    assert not registry.forced("risk")  # that mark is the model-set check's: it lets a mismatched set load


def test_promote_allows_a_model_no_worse_and_one_without_a_comparison(registry, capsys):
    assert models(registry, "promote", "risk", "v3") == 0
    assert registry.current("risk") == "v3"
    assert models(registry, "promote", "risk", "v4") == 0
    assert "records no held-out comparison" in capsys.readouterr().err
    assert models(registry, "rollback", "risk") == 0  # roll back is not judged: it returns to a known model
    assert registry.current("risk") == "v3"


def test_promote_says_which_threshold_keeps_the_alarm_rate_of_a_model_calibrated_lower(registry, capsys):
    """Not a refusal: the model is better; at the floor's threshold it would stop most alerts."""
    assert models(registry, "promote", "risk", "v5") == 0
    err = capsys.readouterr().err
    assert "note: risk v5, at the alert threshold 0.6 the new model flags 0.3 % of the held-out calm calls" in err
    assert "set CALLRADAR_RISK_ALERT_THRESHOLD=0.34 and CALLRADAR_RISK_REARM_THRESHOLD=0.23" in err
    assert registry.current("risk") == "v5"
    assert models(registry, "promote", "risk", "v3") == 2  # v3 was compared with v1 (not v5): no advice either
    assert "CALLRADAR_RISK_ALERT_THRESHOLD" not in capsys.readouterr().err


def test_promote_refuses_a_comparison_made_against_another_model(registry, capsys):
    assert models(registry, "promote", "risk", "v3") == 0
    assert models(registry, "promote", "risk", "v2") == 2  # v2 was compared with v1, not with v3
    assert "not with risk v3" in capsys.readouterr().err


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written


def line(call_id: str, outcome: str | None, escalation_time=None, times=((0.5, 3.0), (4.0, 9.0))) -> str:
    utts = [{"speaker": "customer", "start": s, "end": e, "text": "hello"} for s, e in times]
    return json.dumps({"call_id": call_id, "outcome": outcome, "escalation_time": escalation_time, "utterances": utts})


def lines_of(n_esc: int, n_calm: int, unlabelled: int = 0) -> list[str]:
    return ([line(f"e{i}", "escalated", 4.0) for i in range(n_esc)] + [line(f"c{i}", "calm") for i in range(n_calm)]
            + [line(f"u{i}", None) for i in range(unlabelled)])


@pytest.fixture
def train(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLRADAR_MODELS_DIR", str(tmp_path / "models"))

    def run(name: str, content: str | bytes, *extra: str) -> str:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        rc = main(["train", "risk", "--data", str(path), "--out", str(tmp_path / "out"), *extra])
        err = capsys.readouterr().err.strip()
        assert rc == 2, err
        assert "\n" not in err, err
        assert not (tmp_path / "out").exists() and not (tmp_path / "models").exists()  # nothing written or registered
        return err

    return run


@pytest.mark.parametrize("counts, says", [
    ((0, 12, 2), "no escalated call among its 12 labelled calls; 2 unlabelled call(s) left out; need at least 5 escalated and 5 calm"),
    ((9, 0, 0), "no calm call among its 9 labelled calls; need at least 5 escalated and 5 calm"),
    ((3, 40, 0), "too few calls to learn from: 3 escalated and 40 calm; need at least 5 escalated and 5 calm"),
    ((0, 0, 4), "no labelled calls; 4 unlabelled call(s) left out; need at least 5"),
])
def test_training_data_without_enough_of_each_outcome_says_what_is_needed(train, counts, says):
    assert says in train("calls.jsonl", "\n".join(lines_of(*counts)) + "\n")


def test_labels_that_contradict_the_transcript_are_named_by_call_id(train):
    bad = [line("late", "escalated", 95.0), line("early", "escalated", 20.0, times=((30.0, 33.0), (34.0, 40.0)))]
    err = train("calls.jsonl", "\n".join(lines_of(6, 6) + bad) + "\n")
    assert "2 label(s) contradict the transcript" in err
    assert "'late' (escalation_time 95 s is after the call's end at 9 s)" in err
    assert "'early' (escalation_time 20 s is before the call's first utterance at 30 s)" in err


def test_a_heldout_file_without_both_outcomes_is_refused(train, tmp_path):
    (tmp_path / "test.jsonl").write_text("\n".join(lines_of(0, 4)) + "\n")
    err = train("calls.jsonl", "\n".join(lines_of(6, 6)) + "\n", "--test", str(tmp_path / "test.jsonl"))
    assert "need at least one escalated and one calm call" in err and "0 escalated and 4 calm" in err


@pytest.mark.parametrize("name, content, says", [
    ("calls.parquet", b"not parquet at all", "not a readable Parquet file"),
    ("calls.jsonl", b"\xff\xfe\x00binary", "cannot read as UTF-8 text"),
    ("calls.csv", "call_id,outcome\n", "unknown file type '.csv'"),
])
def test_an_unreadable_file_is_one_line(train, name, content, says):
    assert says in train(name, content)


def test_bad_options_are_refused_before_any_work(train):
    assert "--heldout-share must be between 0 and 1" in train("calls.jsonl", "\n".join(lines_of(6, 6)), "--heldout-share", "1")
    assert "--curve-sizes: expected numbers" in train("calls.jsonl", "\n".join(lines_of(6, 6)), "--curve-sizes", "lots")


def test_evaluate_refuses_labels_that_contradict_the_transcript_too(tmp_path, monkeypatch, capsys):
    from callradar.models.risk import DEFAULT_RISK_DIR

    monkeypatch.setenv("CALLRADAR_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(lines_of(2, 2) + [line("late", "escalated", 95.0)]) + "\n")
    assert main(["evaluate", "--model", str(DEFAULT_RISK_DIR), "--data", str(path), "--report", str(tmp_path / "r")]) == 2
    assert "'late' (escalation_time 95 s is after the call's end at 9 s)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
