"""Whisper's features do not depend on how many BLAS threads the process allows.

faster-whisper's real log-mel extractor on a real call clip, with the filter bank
``SpeechToText`` installs (``ThreadFreeMelFilters``, models/speech.py): the same
features under 1 and 2 BLAS threads, from the main thread and from a pool thread
(the live worker transcribes on one), equal to the filter bank applied by einsum.
"""

from __future__ import annotations

import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor
from threadpoolctl import threadpool_limits

from callradar.models.speech import ThreadFreeMelFilters

CLIP = Path(__file__).resolve().parents[2] / "fixtures" / "audio" / "auto_repairs_40_caller_13.8-18.8s.wav"


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    with wave.open(str(CLIP)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    return np.repeat(pcm, 2)  # 8 kHz to 16 kHz: the features need the rate, not fidelity


def _extractor() -> FeatureExtractor:
    extractor = FeatureExtractor()
    extractor.mel_filters = ThreadFreeMelFilters(extractor.mel_filters)
    return extractor


def test_the_filter_bank_is_applied_by_einsum_not_by_blas(audio):
    """Fails if faster-whisper stops applying ``mel_filters`` with ``@`` (the hook would do nothing)."""
    applied = []

    class Spy(ThreadFreeMelFilters):
        def __matmul__(self, magnitudes):
            applied.append(magnitudes.shape)
            return super().__matmul__(magnitudes)

    extractor = FeatureExtractor()
    extractor.mel_filters = Spy(extractor.mel_filters)
    extractor(audio)
    assert len(applied) == 1 and applied[0][0] == 201  # n_fft 400: 201 frequency bins


def test_features_are_the_same_on_any_blas_thread_count_and_any_thread(audio):
    with threadpool_limits(1, user_api="blas"):
        reference = _extractor()(audio)
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            assert np.array_equal(_extractor()(audio), reference), f"{threads} BLAS threads, main thread"
            with ThreadPoolExecutor(1) as pool:
                assert np.array_equal(pool.submit(_extractor(), audio).result(), reference), \
                    f"{threads} BLAS threads, pool thread"


def test_the_product_is_the_filter_bank_times_the_magnitudes():
    rng = np.random.default_rng(0)
    filters, magnitudes = rng.random((80, 201), np.float32), rng.random((201, 37), np.float32)
    product = ThreadFreeMelFilters(filters) @ magnitudes
    assert product.shape == (80, 37) and product.dtype == np.float32
    assert np.allclose(product, filters.astype(np.float64) @ magnitudes.astype(np.float64), rtol=1e-5)
