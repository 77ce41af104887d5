"""Semi-synthetic corpus: deterministic for a seed, no text across the split, outcomes and times consistent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_fakes import write_fake_bitext

from callradar.pipeline.cli.main import main
from callradar.training.corpus import BITEXT_SOURCE, build_corpus, plan_bitext
from callradar.training.data import bitext_file, default_data_dir
from callradar.training.labelled_calls import read_calls


@pytest.fixture(scope="module")
def bitext(tmp_path_factory) -> Path:
    return write_fake_bitext(tmp_path_factory.mktemp("bitext") / "bitext.csv")


def build(out: Path, bitext: Path, seed: int = 3, n: int = 40) -> dict:
    return build_corpus(out, n, seed, bitext_path=bitext)


def test_same_seed_same_corpus_other_seed_other_corpus(tmp_path, bitext):
    a, b, c = (build(tmp_path / name, bitext, seed) for name, seed in (("a", 3), ("b", 3), ("c", 4)))
    assert a["files"] == b["files"], "same seed must give byte-identical Parquet"
    assert a["files"] != c["files"]
    assert (tmp_path / "a" / "corpus_card.md").read_text() == (tmp_path / "b" / "corpus_card.md").read_text()


def test_calls_are_consistent_and_split_without_shared_text(tmp_path, bitext):
    info = build(tmp_path, bitext)
    train, test = read_calls(tmp_path / "train.parquet"), read_calls(tmp_path / "test.parquet")
    assert (len(train), len(test)) == (30, 10)
    assert {c.outcome for c in test} == {"calm", "escalated"}
    assert "own split" in info["bitext"]["split"]  # a fake file cannot match the intent head's card
    for call in train + test:
        assert call.source == BITEXT_SOURCE
        starts = [u.start for u in call.utterances]
        assert starts == sorted(starts) and all(u.end > u.start for u in call.utterances)
        if call.outcome == "escalated":
            (turn,) = [u for u in call.utterances if u.start == call.escalation_time]
            assert turn.speaker == "customer"
        else:
            assert call.escalation_time is None
        assert "typo row" not in " ".join(u.text for u in call.utterances)  # flag Z is left out

    def customer_bitext(calls):  # the numbered fake rows are the Bitext ones
        return {u.text.lower().replace(",", "") for c in calls for u in c.utterances
                if u.speaker == "customer" and "x" in u.text.split()[-1]}

    assert customer_bitext(train) and customer_bitext(test)
    assert not customer_bitext(train) & customer_bitext(test)


def test_plan_has_exact_outcome_counts_and_a_stratified_split():
    plan = plan_bitext(100, seed=1, escalated_fraction=0.3, test_fraction=0.2)
    assert sum(esc for _, esc, _ in plan) == 30
    assert sum(split == "test" for _, _, split in plan) == 20
    assert sum(esc and split == "test" for _, esc, split in plan) == 6
    assert len({cid for cid, _, _ in plan}) == 100


def test_cli_reports_bad_options_and_missing_bitext(tmp_path, capsys):
    assert main(["corpus", "build", "--out", str(tmp_path), "--calls", "0", "--sim-calls", "0"]) == 2
    assert "both 0" in capsys.readouterr().err
    assert main(["corpus", "build", "--out", str(tmp_path), "--calls", "4", "--sim-calls", "0",
                 "--bitext", str(tmp_path / "missing.csv")]) == 2
    assert "no Bitext file" in capsys.readouterr().err
    assert main(["corpus", "build", "--test-fraction", "1.5"]) == 2


@pytest.mark.skipif(not bitext_file(default_data_dir()).exists(), reason="needs ../shared/data/intents/bitext")
def test_real_bitext_test_calls_use_only_text_the_intent_head_held_out(tmp_path):
    from callradar.models.sentiment import ARTIFACTS_DIR

    card = json.loads((ARTIFACTS_DIR / "intent" / "card.json").read_text())
    info = build_corpus(tmp_path, 8, 0, bitext_path=bitext_file(default_data_dir()), intent_card=card)
    assert info["bitext"]["split"].startswith("the intent head's own held-out fold")
