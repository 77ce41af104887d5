"""Model registry: add, promote, roll back, list; refusing corrupt and unsafe model folders."""

import json
import shutil
import threading

import pytest

from callradar.models.call_features import FEATURE_NAMES
from callradar.models.registry import (
    BUILTIN,
    ModelSetError,
    Registry,
    RegistryError,
    builtin_path,
    head_fingerprint,
    load_model_set,
    load_risk_model,
    model_set_mismatch,
    parse_model_version,
    read_card,
    validate,
)
from callradar.models.risk import DEFAULT_RISK_DIR, RiskModel
from callradar.pipeline.cli.main import main
from callradar.pipeline.settings import load_settings


def risk_model(version: str, intercept: float) -> RiskModel:
    """A valid risk model whose risk is sigmoid(intercept) for every call."""
    names = list(FEATURE_NAMES[:2])
    return RiskModel(names, [0.0, 0.0], [0.0, 0.0], [1.0, 1.0], intercept, version)


@pytest.fixture
def folders(tmp_path):
    """Two risk model folders with different coefficients, as `callradar train risk` would write."""
    a = risk_model("trained-a", -2.0).save(tmp_path / "out" / "a", card={"metrics": {"auroc": 0.81}})
    b = risk_model("trained-b", 2.0).save(tmp_path / "out" / "b", card={"metrics": {"auroc": 0.86}})
    return a, b


@pytest.fixture
def reg(tmp_path):
    return Registry(tmp_path / "models")


def test_nothing_promoted_runs_builtin(reg):
    for kind in ("risk", "sentiment", "intent"):
        assert reg.current(kind) == BUILTIN
        assert reg.resolve(kind) == (BUILTIN, builtin_path(kind))
        [only] = reg.versions(kind)
        assert only.version == BUILTIN and only.current and only.card
    assert reg.stamp() == (None, None, None)


def test_add_promote_rollback(reg, folders):
    a, b = folders
    assert reg.add("risk", a, note="first") == "v1"
    assert reg.add("risk", b) == "v2"
    assert reg.current("risk") == BUILTIN  # adding does not promote
    before = reg.stamp()

    reg.promote("risk", "v1")
    assert reg.current("risk") == "v1" and reg.stamp() != before
    assert load_risk_model(reg).version == "trained-a"
    reg.promote("risk", "v2")
    assert load_risk_model(reg).version == "trained-b"
    assert [v.version for v in reg.versions("risk") if v.current] == ["v2"]

    assert reg.rollback("risk") == "v1"
    assert reg.rollback("risk") == BUILTIN
    assert load_risk_model(reg).version == RiskModel.load(DEFAULT_RISK_DIR).version  # the bundled model
    with pytest.raises(RegistryError, match="nothing to roll back"):
        reg.rollback("risk")

    actions = [(h["action"], h["version"]) for h in reg.history("risk")]
    assert actions == [("add", "v1"), ("add", "v2"), ("promote", "v1"), ("promote", "v2"),
                       ("rollback", "v1"), ("rollback", BUILTIN)]
    # The version folder is a faithful copy: the model loads from the registry as it was saved.
    assert RiskModel.load(reg.path("risk", "v1")).to_dict() == RiskModel.load(a).to_dict()


def test_pointer_is_one_json_file_replaced_atomically(reg, folders):
    reg.add("risk", folders[0])
    reg.promote("risk", "v1")
    pointer = reg.kind_dir("risk") / "current.json"
    assert json.loads(pointer.read_text())["version"] == "v1"
    assert not [p for p in reg.kind_dir("risk").iterdir() if p.name.endswith(".tmp")]


def test_unknown_version_and_kind_are_clear(reg):
    with pytest.raises(RegistryError, match="no risk version 'v7'.*builtin"):
        reg.promote("risk", "v7")
    with pytest.raises(RegistryError, match="unknown model kind 'asr'"):
        reg.current("asr")


def test_concurrent_adds_get_distinct_versions(reg, folders):
    results = []
    threads = [threading.Thread(target=lambda: results.append(reg.add("risk", folders[0]))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["v1", "v2", "v3", "v4"]


# ------------------------------------------------------------ refusing bad folders


def test_refuses_a_tampered_risk_model(reg, folders):
    a = folders[0]
    doc = json.loads((a / "model.json").read_text())
    doc["intercept"] = 9.0  # edited without updating the card's sha256
    (a / "model.json").write_text(json.dumps(doc))
    with pytest.raises(RegistryError, match=r"not a loadable risk model: .*sha256 differs"):
        reg.add("risk", a)
    assert reg.numbered("risk") == []


def test_refuses_a_risk_model_without_a_hash(reg, folders):
    a = folders[0]
    card = json.loads((a / "card.json").read_text())
    del card["sha256"]
    (a / "card.json").write_text(json.dumps(card))
    with pytest.raises(RegistryError, match="no sha256"):
        reg.add("risk", a)


def test_refuses_pickle_files(reg, folders):
    (folders[0] / "extra.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(RegistryError, match=r"extra\.pkl: unsafe file.*pickle"):
        reg.add("risk", folders[0])


def test_refuses_links(reg, folders, tmp_path):
    (tmp_path / "elsewhere.json").write_text("{}")
    (folders[0] / "notes.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(RegistryError, match="symbolic link"):
        reg.add("risk", folders[0])


def test_refuses_corrupt_safetensors_heads(reg, tmp_path):
    folder = tmp_path / "sentiment"
    shutil.copytree(builtin_path("sentiment"), folder)
    weights = folder / "heads.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    with pytest.raises(RegistryError, match="not a loadable sentiment model: .*corrupt"):
        reg.add("sentiment", folder)
    # Even with a card that matches the truncated bytes, the file itself is refused.
    import hashlib

    card = json.loads((folder / "card.json").read_text())
    card["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(RegistryError, match="unreadable safetensors"):
        validate("sentiment", folder)


def test_refuses_the_wrong_kind(reg):
    with pytest.raises(RegistryError, match="holds a 'intent' model, expected 'sentiment'"):
        reg.add("sentiment", builtin_path("intent"))
    with pytest.raises(RegistryError, match="not a loadable risk model"):
        reg.add("risk", builtin_path("intent"))


def test_refuses_to_promote_a_version_corrupted_after_adding(reg, folders):
    reg.add("risk", folders[0])
    reg.add("risk", folders[1])
    reg.promote("risk", "v1")
    (reg.path("risk", "v2") / "model.json").write_text("{ truncated")
    with pytest.raises(RegistryError, match="v2 is not a loadable risk model"):
        reg.promote("risk", "v2")
    assert reg.current("risk") == "v1"


def test_heads_versions_and_model_set(reg, tmp_path):
    folder = tmp_path / "intent"
    shutil.copytree(builtin_path("intent"), folder)
    assert reg.add("intent", folder) == "v1"
    reg.promote("intent", "v1")
    models = load_model_set(reg, encoder_model=load_settings({}).encoder_model)
    assert parse_model_version(models.version) == {"risk": "builtin", "sentiment": "builtin", "intent": "v1"}
    assert models.text_scorer.score("put me through to your manager").intent > 0.5


def test_folder_at_kind_root_still_loads_as_local(tmp_path, folders):
    """The layout before the registry: <models_dir>/risk/ holding a model directly."""
    shutil.copytree(folders[1], tmp_path / "models" / "risk")
    reg = Registry(tmp_path / "models")
    assert reg.current("risk") == "local"
    assert load_risk_model(reg).version == "trained-b"


# ------------------------------------------------------------ the CLI


def test_cli_list_promote_rollback(tmp_path, folders, capsys):
    root = str(tmp_path / "models")
    assert main(["models", "--models", root, "promote", "risk", str(folders[0])]) == 0
    out = capsys.readouterr().out
    assert "added" in out and "promoted risk v1 (was builtin)" in out
    assert main(["models", "--models", root, "add", "risk", str(folders[1])]) == 0
    assert main(["models", "--models", root, "list", "risk"]) == 0
    out = capsys.readouterr().out
    assert "* v1" in out and "auroc=0.81" in out and "  v2" in out and "builtin" in out
    assert main(["models", "--models", root, "promote", "risk", "v2"]) == 0
    assert main(["models", "--models", root, "rollback", "risk"]) == 0
    assert "rolled risk back from v2 to v1" in capsys.readouterr().out
    assert main(["models", "--models", root, "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kinds"]["risk"]["current"] == "v1" and doc["kinds"]["sentiment"]["current"] == "builtin"


def test_cli_refuses_a_corrupt_folder_in_one_line(tmp_path, folders, capsys):
    (folders[0] / "model.json").write_text("{}")
    assert main(["models", "--models", str(tmp_path / "m"), "promote", "risk", str(folders[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("callradar models: error:") and "sha256 differs" in err and "\n" not in err


def test_cli_refuses_a_head_trained_on_another_encoder(tmp_path, capsys):
    folder = tmp_path / "sentiment"
    shutil.copytree(builtin_path("sentiment"), folder)
    card = json.loads((folder / "card.json").read_text())
    card["encoder"]["probe_embedding"] = [-v for v in card["encoder"]["probe_embedding"]]  # a different encoder
    (folder / "card.json").write_text(json.dumps(card))
    root = str(tmp_path / "models")
    assert main(["models", "--models", root, "promote", "sentiment", str(folder)]) == 2
    assert "does not work with the encoder the score stage runs" in capsys.readouterr().err
    assert Registry(root).current("sentiment") == BUILTIN


# ------------------------------------------------------------ the model set belongs together


def retrained_head(kind: str, folder, created: str = "2027-01-05T09:00:00+00:00"):
    """A copy of the bundled head that reads as another training run (its card's creation time)."""
    shutil.copytree(builtin_path(kind), folder)
    card = json.loads((folder / "card.json").read_text())
    card["created"] = created
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def risk_trained_on(folder, sentiment_card: dict, intent_card: dict, version: str = "trained-on-heads"):
    """A risk model folder whose card records the heads it was fitted on, as `callradar train risk` writes it."""
    text_models = {"encoder": "all-MiniLM-L6-v2", "sentiment": head_fingerprint(sentiment_card),
                   "intent": head_fingerprint(intent_card)}
    return risk_model(version, 0.0).save(folder, card={"text_models": text_models})


def builtin_card(kind: str) -> dict:
    return read_card(builtin_path(kind))


def test_the_bundled_set_belongs_together():
    risk = builtin_card("risk")
    assert set(risk["text_models"]) >= {"sentiment", "intent"}  # the check below is not vacuous
    heads = {k: (BUILTIN, builtin_card(k)) for k in ("sentiment", "intent")}
    assert model_set_mismatch((BUILTIN, risk), heads) is None


def test_an_intent_heads_negativity_weight_is_part_of_its_fingerprint():
    card = builtin_card("intent")
    plain = head_fingerprint({k: v for k, v in card.items() if k != "negativity_weight"})
    assert head_fingerprint({**card, "negativity_weight": 0.0}) == plain  # older cards keep their fingerprint
    assert head_fingerprint({**card, "negativity_weight": 0.3}) == f"{plain} negativity 0.3"


def test_a_risk_model_served_with_other_heads_is_refused_at_load(reg, tmp_path):
    reg.add("sentiment", retrained_head("sentiment", tmp_path / "sentiment"))
    reg.promote("sentiment", "v1")  # the Python API; `callradar models promote` would have refused it
    with pytest.raises(ModelSetError) as refused:
        load_model_set(reg, encoder_model="all-MiniLM-L6-v2")
    message = str(refused.value)
    expected = head_fingerprint(builtin_card("sentiment"))
    risk_version = builtin_card("risk")["version"]
    assert f"risk builtin ({risk_version}) was trained on sentiment '{expected}'" in message
    assert "the heads loaded are sentiment v1 'callradar-sentiment 2027-01-05T09:00:00+00:00" in message
    assert f"intent builtin '{head_fingerprint(builtin_card('intent'))}'" in message
    # A pinned candidate is checked the same way.
    candidate = risk_trained_on(tmp_path / "candidate", read_card(reg.path("sentiment", "v1")), builtin_card("intent"))
    with pytest.raises(ModelSetError, match="trained on sentiment 'callradar-sentiment 2027-01-05"):
        load_model_set(None, encoder_model="all-MiniLM-L6-v2", pins={"risk": str(candidate)})


def test_a_risk_model_expecting_other_heads_is_refused_at_load(reg, tmp_path):
    other = dict(builtin_card("intent"), created="2020-01-01T00:00:00+00:00")
    reg.add("risk", risk_trained_on(tmp_path / "risk", builtin_card("sentiment"), other))
    reg.promote("risk", "v1")
    with pytest.raises(ModelSetError, match=r"risk v1 \(trained-on-heads\) was trained on .*intent "
                       r"'callradar-escalation-intent 2020-01-01T00:00:00\+00:00"):
        load_model_set(reg, encoder_model="all-MiniLM-L6-v2")


def test_cli_refuses_to_promote_a_head_the_risk_model_was_not_trained_on(tmp_path, capsys):
    root = tmp_path / "models"
    head = retrained_head("sentiment", tmp_path / "sentiment")
    assert main(["models", "--models", str(root), "promote", "sentiment", str(head)]) == 2
    err = capsys.readouterr().err
    assert "refused: risk builtin" in err and "was trained on sentiment 'callradar-sentiment 2026" in err
    assert "the heads loaded are sentiment v1 'callradar-sentiment 2027-01-05" in err and "--force" in err
    reg = Registry(root)
    assert reg.current("sentiment") == BUILTIN and reg.numbered("sentiment") == ["v1"]  # added, not promoted
    assert not [h for h in reg.history("sentiment") if h["action"] == "promote"]


def test_cli_refuses_to_promote_a_risk_model_that_expects_other_heads(tmp_path, capsys):
    root = tmp_path / "models"
    other = dict(builtin_card("sentiment"), created="2020-01-01T00:00:00+00:00")
    folder = risk_trained_on(tmp_path / "risk", other, builtin_card("intent"))
    assert main(["models", "--models", str(root), "promote", "risk", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "refused: risk v1 (trained-on-heads) was trained on sentiment 'callradar-sentiment 2020-01-01" in err
    assert "the heads loaded are sentiment builtin" in err
    assert Registry(root).current("risk") == BUILTIN


def test_cli_force_promotes_warns_and_marks_the_history(tmp_path, capsys, caplog):
    root = tmp_path / "models"
    head = retrained_head("sentiment", tmp_path / "sentiment")
    assert main(["models", "--models", str(root), "promote", "sentiment", str(head), "--force",
                 "--note", "trying the new head"]) == 0
    captured = capsys.readouterr()
    assert "promoted sentiment v1" in captured.out
    assert captured.err.count("warning: forced: risk builtin") == 1
    reg = Registry(root)
    assert reg.current("sentiment") == "v1" and reg.forced("sentiment")
    [promotion] = [h for h in reg.history("sentiment") if h["action"] == "promote"]
    assert promotion["forced"] is True
    assert promotion["note"].startswith("trying the new head; forced: risk builtin")
    # The forced set loads (the operator chose it), with a warning naming the mismatch.
    with caplog.at_level("WARNING", logger="callradar.models.registry"):
        models = load_model_set(reg, encoder_model="all-MiniLM-L6-v2")
    assert parse_model_version(models.version)["sentiment"] == "v1"
    assert any("promoted with --force" in r.getMessage() and "sentiment v1" in r.getMessage() for r in caplog.records)


def test_cli_promotes_a_consistent_set_and_checks_rollbacks(tmp_path, capsys):
    root = tmp_path / "models"
    head = retrained_head("sentiment", tmp_path / "sentiment")
    assert main(["models", "--models", str(root), "add", "sentiment", str(head)]) == 0
    reg = Registry(root)
    # A risk model trained on the new head: promoting it first is refused (the live head is still builtin) ...
    risk = risk_trained_on(tmp_path / "risk", read_card(reg.path("sentiment", "v1")), builtin_card("intent"))
    assert main(["models", "--models", str(root), "promote", "risk", str(risk)]) == 2
    # ... the head, forced, then the risk model, which now matches: no force needed.
    assert main(["models", "--models", str(root), "promote", "sentiment", "v1", "--force"]) == 0
    capsys.readouterr()
    assert main(["models", "--models", str(root), "promote", "risk", "v1"]) == 0
    assert "promoted risk v1 (was builtin)" in capsys.readouterr().out
    assert not reg.forced("risk")
    assert [h.get("forced") for h in reg.history("risk") if h["action"] == "promote"] == [None]
    # Rolling the risk model back would serve the bundled one with the new head: refused, unless forced.
    assert main(["models", "--models", str(root), "rollback", "risk"]) == 2
    assert "refused: risk builtin" in capsys.readouterr().err and reg.current("risk") == "v1"
    assert main(["models", "--models", str(root), "rollback", "risk", "--force"]) == 0
    assert reg.current("risk") == BUILTIN and reg.forced("risk")
