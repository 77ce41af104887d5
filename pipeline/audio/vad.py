"""Silero VAD speech probabilities, streamed: one call channel's state carried from chunk to chunk.

The model is the Silero VAD v6 ONNX file that ships inside faster-whisper
(``faster_whisper/assets/silero_vad_v6.onnx``, MIT), run with onnxruntime, which
faster-whisper already needs: nothing is downloaded. It reads 16 kHz audio in
windows of 512 samples (32 ms), each with the 64 samples before it as context,
and carries an LSTM state (h, c) from window to window.

faster-whisper's own wrapper runs a whole file at once from a zero state. Here
the state and the context are kept per channel, so the windows of a chunk are
scored as soon as it arrives; all of a chunk's whole windows go in one model
call. Scoring window by window or many at a time gives bit-identical
probabilities (checked in tests/unit/pipeline/test_segmenter_silero.py), so the
probabilities, and the segments made from them, do not depend on chunk size.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

SILERO_RATE = 16000
WINDOW = 512  # samples per probability at 16 kHz
CONTEXT = 64  # samples of the previous window the model sees with each one
STATE_SHAPE = (1, 1, 128)


def silero_model_path() -> Path:
    """The ONNX file inside the installed faster-whisper."""
    from faster_whisper.utils import get_assets_path

    return Path(get_assets_path()) / "silero_vad_v6.onnx"


@functools.lru_cache(maxsize=1)
def _session():
    """One onnxruntime session per process, on one thread: shared by every channel (it is stateless)."""
    import onnxruntime

    path = silero_model_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"Silero VAD model not found at {path}; reinstall faster-whisper, or set CALLRADAR_SEGMENTER=energy"
        )
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 4
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"], sess_options=opts)


class SileroStream:
    """Speech probability of each 32 ms window of one channel, fed in chunks of any size."""

    def __init__(self):
        self._session = _session()
        self.reset()

    def reset(self) -> None:
        """Start again as at the start of a stream (zero state, zero context)."""
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """``windows``: float32 [n, 512], the channel's next n windows in order; returns n probabilities."""
        n = len(windows)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        windows = np.asarray(windows, dtype=np.float32).reshape(n, WINDOW)
        contexts = np.empty((n, CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        contexts[1:] = windows[:-1, -CONTEXT:]
        batch = np.concatenate([contexts, windows], axis=1)
        probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = windows[-1, -CONTEXT:].copy()
        return np.asarray(probs, dtype=np.float32).reshape(n)
