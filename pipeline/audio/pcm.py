"""Audio in and out of the pipeline: call files, PCM bytes, sample rates.

Replay and tests read whole call files here; the wire carries s16le PCM at
8 or 16 kHz (see ``callradar.pipeline.records``); the segmenter and Whisper want float32
at 16 kHz. Every conversion between those lives in this module so that the
rounding and resampling rules are the same everywhere.
"""

from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
from scipy.signal import firwin, resample_poly

from callradar.models.types import MODEL_SAMPLE_RATE as MODEL_RATE  # what the segmenter and Whisper consume
from callradar.pipeline.records import SUPPORTED_SAMPLE_RATES as WIRE_RATES

MIN_RATE = 8000  # below telephone band, speech is not usable
LAYOUTS = ("stereo-agent-left", "stereo-agent-right")


class AudioFileError(ValueError):
    """A call file that cannot be used; the message says what is wrong and what to do."""


# ---------------------------------------------------------------- call files


def read_call_audio(
    paths: str | Path | Sequence[str | Path], layout: str = "stereo-agent-left"
) -> tuple[int, np.ndarray, np.ndarray]:
    """Read one call as ``(sample_rate, agent, customer)``, both mono int16 of equal length.

    ``paths`` is one stereo file (``layout`` says which side is the agent) or an
    ``(agent, customer)`` pair of mono files with the same rate; the shorter of a
    pair is padded with silence so both channels share one call clock.
    """
    if layout not in LAYOUTS:
        raise AudioFileError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    path_list = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if len(path_list) == 1:
        rate, data = _read_file(path_list[0])
        if data.shape[1] != 2:
            raise AudioFileError(
                f"{path_list[0]}: has {data.shape[1]} channel(s); a call file needs exactly 2 "
                "(agent and customer). Pass a stereo file, or the two mono files of a call as "
                "--pair AGENT CUSTOMER."
            )
        left, right = np.ascontiguousarray(data[:, 0]), np.ascontiguousarray(data[:, 1])
        return (rate, left, right) if layout == "stereo-agent-left" else (rate, right, left)
    if len(path_list) == 2:
        (agent_rate, agent), (customer_rate, customer) = (_read_file(p) for p in path_list)
        for path, data in zip(path_list, (agent, customer)):
            if data.shape[1] != 1:
                raise AudioFileError(
                    f"{path}: has {data.shape[1]} channels; each file of an agent/customer pair "
                    "must be mono. Pass a stereo call file on its own instead."
                )
        if agent_rate != customer_rate:
            raise AudioFileError(
                f"sample rates differ: {path_list[0]} is {agent_rate} Hz, {path_list[1]} is "
                f"{customer_rate} Hz; convert both to one rate (e.g. sox IN -r 16000 OUT)."
            )
        length = max(len(agent), len(customer))
        return agent_rate, _pad(agent[:, 0], length), _pad(customer[:, 0], length)
    raise AudioFileError(
        f"got {len(path_list)} files; give one stereo call file or an agent/customer pair"
    )


def _read_file(path: str | Path) -> tuple[int, np.ndarray]:
    """One file as (rate, int16 frames x channels), or an AudioFileError that says why not."""
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise AudioFileError(f"{path}: is not a file; give a WAV or FLAC file")
    try:
        data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioFileError(
            f"{path}: cannot be read as audio ({exc}); it may be corrupt or truncated. "
            "Give a WAV or FLAC file (PCM)."
        ) from None
    if len(data) == 0:
        raise AudioFileError(f"{path}: contains no audio samples")
    if rate < MIN_RATE:
        raise AudioFileError(f"{path}: sample rate {rate} Hz is below {MIN_RATE} Hz; re-record or upsample")
    return int(rate), data


def _pad(x: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length, dtype=np.int16)
    out[: len(x)] = x
    return out


# ---------------------------------------------------------------- rates


def to_wire_rate(rate: int) -> int:
    """The rate a channel travels at: 8 and 16 kHz pass as they are, anything else goes at 16 kHz."""
    return rate if rate in WIRE_RATES else MODEL_RATE


def _ratio(from_rate: int, to_rate: int) -> tuple[int, int]:
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} and {to_rate}")
    g = gcd(int(from_rate), int(to_rate))
    return int(to_rate) // g, int(from_rate) // g


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a whole signal by the exact rational ratio; int16 stays int16, float stays float32."""
    up, down = _ratio(from_rate, to_rate)
    if up == down:
        return x.copy()
    y = resample_poly(np.asarray(x, dtype=np.float32), up, down)
    return _same_kind(y, x.dtype)


def _same_kind(y: np.ndarray, dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)
    return y.astype(np.float32, copy=False)


class StreamResampler:
    """Resample a stream chunk by chunk, with output equal to :func:`resample` of the whole.

    Resampling each chunk on its own would zero-pad both edges and put a small
    dip at every chunk boundary (a buzz at the chunk rate); this keeps the
    filter's history instead. Output lags input by the filter's half length
    (10 input samples at 8 -> 16 kHz); :meth:`flush` returns the rest at the end.
    """

    def __init__(self, from_rate: int, to_rate: int):
        self.up, self.down = _ratio(from_rate, to_rate)
        # The same filter as scipy.signal.resample_poly, so both paths agree.
        half_len = 10 * max(self.up, self.down)
        self._taps = firwin(2 * half_len + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0)) * self.up
        self._delay = half_len
        # Output n = sum_j taps[n*down + delay - j*up] * x[j]; pad the taps so every phase has k_len taps.
        self._k_len = -(-len(self._taps) // self.up) + 1
        padded = np.zeros(self._k_len * self.up)
        padded[: len(self._taps)] = self._taps
        self._phase_taps = padded.reshape(self._k_len, self.up).T[:, ::-1]  # [phase, oldest..newest]
        self._history = np.zeros(0, dtype=np.float64)
        self._history_start = 0  # input index of _history[0]
        self._inputs = 0
        self._outputs = 0
        self._kind = np.dtype(np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed the next chunk; returns every output sample the input so far determines."""
        self._kind = np.asarray(x).dtype
        self._history = np.concatenate([self._history, np.asarray(x, dtype=np.float64)])
        self._inputs += len(x)
        # Output n needs inputs up to (n*down + delay) // up.
        ready = (self._inputs * self.up - self._delay - 1) // self.down + 1 if self._inputs else 0
        return _same_kind(self._produce(max(ready, self._outputs)), self._kind)

    def flush(self) -> np.ndarray:
        """The last outputs, treating input after the end as silence (as resample_poly does)."""
        total = -(-self._inputs * self.up // self.down)
        return _same_kind(self._produce(total), self._kind)

    def _produce(self, until: int) -> np.ndarray:
        if until <= self._outputs:
            return np.zeros(0, dtype=np.float32)
        y = self._upsampled(until) if self.down == 1 else self._gathered(until)
        self._outputs = until
        # Keep only the inputs that later outputs still need.
        oldest_needed = (until * self.down + self._delay) // self.up - self._k_len + 1
        drop = min(max(0, oldest_needed - self._history_start), len(self._history))
        self._history = self._history[drop:]
        self._history_start += drop
        return y

    def _inputs_between(self, first: int, last: int) -> np.ndarray:
        """Inputs first..last (inclusive, absolute indices), zero outside what was fed."""
        out = np.zeros(last - first + 1)
        lo, hi = max(first, self._history_start), min(last + 1, self._history_start + len(self._history))
        if hi > lo:
            out[lo - first : hi - first] = self._history[lo - self._history_start : hi - self._history_start]
        return out

    def _upsampled(self, until: int) -> np.ndarray:
        """Integer upsampling (8 -> 16 kHz, the live path): one short FIR per phase, interleaved.

        Output n is phase (n + delay) % up of input (n + delay) // up, so a run of
        outputs is ``up`` correlations over the same stretch of input; about ten
        times cheaper per chunk than gathering a window for every output.
        """
        first, last = (self._outputs + self._delay) // self.up, (until - 1 + self._delay) // self.up
        window = self._inputs_between(first - self._k_len + 1, last)
        phases = np.stack([np.correlate(window, taps, "valid") for taps in self._phase_taps], axis=1)
        skip = self._outputs + self._delay - first * self.up
        return phases.reshape(-1)[skip : skip + until - self._outputs]

    def _gathered(self, until: int) -> np.ndarray:
        """Any rational ratio: gather each output's window of inputs and weigh it by its phase's taps."""
        n = np.arange(self._outputs, until)
        pos = n * self.down + self._delay
        phase = pos % self.up
        newest = pos // self.up  # newest input index that touches output n
        idx = newest[:, None] - np.arange(self._k_len - 1, -1, -1)[None, :] - self._history_start
        source = np.append(self._history, 0.0)  # the last slot stands for silence outside the input
        outside = (idx < 0) | (idx >= len(self._history))
        window = source[np.where(outside, len(self._history), idx)]
        return np.einsum("ij,ij->i", window, self._phase_taps[phase])


# ---------------------------------------------------------------- PCM bytes


def pcm16_bytes_to_float(b: bytes) -> np.ndarray:
    """s16le bytes -> float32 in [-1, 1)."""
    return np.frombuffer(b, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16_bytes(x: np.ndarray) -> bytes:
    """float in [-1, 1] -> s16le bytes, clipped; exact inverse of pcm16_bytes_to_float."""
    scaled = np.rint(np.asarray(x, dtype=np.float64) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def int16_to_float(x: np.ndarray) -> np.ndarray:
    """int16 samples -> float32 in [-1, 1), the scale every model here expects."""
    return np.asarray(x, dtype=np.float32) / 32768.0
