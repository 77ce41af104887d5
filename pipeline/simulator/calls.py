"""``callradar simulate``: scripted two-channel contact-centre calls with known outcomes.

The demo, the end-to-end tests and model training need calls whose outcome and
timing are known exactly, without shipping audio: this module synthesizes them
from the scripts in ``call_scripts.yaml`` with espeak-ng. Each call is one
stereo 8 kHz 16-bit WAV (agent left, customer right) plus a label JSON with the
outcome, the second the escalation was requested and the reference transcript,
timed from the synthesized audio itself.

Everything random is drawn from the call id (which contains the seed), so the
same seed gives byte-identical files, and a call already on disk from the same
scripts and generator is reused instead of re-synthesized.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import wave
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from callradar.pipeline.errors import UserError

if TYPE_CHECKING:  # numpy, scipy and yaml are imported where used, to keep `callradar --help` instant
    import numpy as np

SAMPLE_RATE = 8000  # telephony
CHANNELS = {"agent": 0, "customer": 1}  # agent left, customer right
KINDS = ("mixed", "calm", "escalating")
OUTCOMES = {"calm": "calm", "escalating": "escalated"}
CUSTOMER_TIERS = ("standard", "standard", "gold", "platinum")
SCRIPTS_PATH = Path(__file__).with_name("call_scripts.yaml")
ESPEAK_MISSING = "espeak-ng is not installed; the simulator needs it (apt-get install espeak-ng)"
LABEL_KEYS = ("call_id", "script", "outcome", "escalation_time", "duration", "sample_rate", "transcript")

# Voice and timing ranges. Customers speed up and rise in pitch as frustration builds.
# Speeds stay on the slow side of natural: above about 180 words a minute Whisper
# tiny.en starts to miss escalation words in espeak speech at 8 kHz.
AGENT_SPEED_WPM = (150, 170)
CUSTOMER_SPEED_WPM = (145, 160)
AGENT_PITCH = (45, 65)
CUSTOMER_PITCH = (30, 60)
SPEED_PER_FRUSTRATION = 4
PITCH_PER_FRUSTRATION = 3
TURN_JITTER = 4  # +- words a minute and pitch steps per turn
INTERRUPT_PROBABILITY = 0.3  # per customer turn with frustration >= 2, escalating calls only
TRIM_THRESHOLD = 0.01  # of the utterance peak (-40 dB): keeps soft onsets like "th", drops the fade-out
# Pauses inside one turn (quieter than PAUSE_THRESHOLD of the peak) are cut to
# MAX_PAUSE_IN_TURN_S, below the transcribe stage's end-of-utterance silence
# (settings.vad_end_silence_ms, 400 ms), so one scripted turn is one utterance.
PAUSE_THRESHOLD = 0.02
MAX_PAUSE_IN_TURN_S = 0.3


@dataclass(frozen=True)
class Turn:
    speaker: str  # agent | customer
    text: str
    frustration: int = 0
    escalation_request: bool = False


@dataclass(frozen=True)
class Script:
    name: str
    kind: str  # calm | escalating
    queue: str  # the contact-centre queue the call arrives on
    description: str
    turns: tuple[Turn, ...]

    @property
    def escalation_turn(self) -> int | None:
        return next((i for i, t in enumerate(self.turns) if t.escalation_request), None)


@dataclass(frozen=True)
class ScriptBook:
    scripts: tuple[Script, ...]
    agent_voices: tuple[str, ...]
    customer_voices: tuple[str, ...]

    def of_kind(self, kind: str) -> list[Script]:
        return [s for s in self.scripts if s.kind == kind]


def load_scripts(path: Path = SCRIPTS_PATH) -> ScriptBook:
    """Parse and check the scripts, so a bad edit fails here rather than as odd audio."""
    import yaml

    doc = yaml.safe_load(Path(path).read_text())
    scripts = []
    for raw in doc["scripts"]:
        turns = []
        for t in raw["turns"]:
            speaker = "agent" if "agent" in t else "customer"
            turns.append(
                Turn(
                    speaker=speaker,
                    text=str(t[speaker]).strip(),
                    frustration=int(t.get("frustration", 0)),
                    escalation_request=bool(t.get("escalation_request", False)),
                )
            )
        script = Script(raw["name"], raw["kind"], raw["queue"], raw.get("description", ""), tuple(turns))
        _check_script(script)
        scripts.append(script)
    voices = doc["voices"]
    return ScriptBook(tuple(scripts), tuple(voices["agent"]), tuple(voices["customer"]))


def _check_script(s: Script) -> None:
    problem = None
    flagged = [i for i, t in enumerate(s.turns) if t.escalation_request]
    if s.kind not in OUTCOMES:
        problem = f"kind must be calm or escalating, not {s.kind!r}"
    elif s.kind == "calm" and flagged:
        problem = "a calm script cannot have an escalation_request turn"
    elif s.kind == "escalating" and len(flagged) != 1:
        problem = "an escalating script needs exactly one escalation_request turn"
    elif flagged and s.turns[flagged[0]].speaker != "customer":
        problem = "the escalation_request turn must be a customer turn"
    elif any(a.speaker == b.speaker for a, b in zip(s.turns, s.turns[1:])):
        problem = "agent and customer turns must alternate"
    elif any(not 0 <= t.frustration <= 3 for t in s.turns):
        problem = "frustration must be 0-3"
    if problem:
        raise ValueError(f"call script {s.name!r}: {problem}")


# ------------------------------------------------------------------ planning


def plan_calls(
    n_calls: int, seed: int, kind: str = "mixed", book: ScriptBook | None = None
) -> list[tuple[str, Script]]:
    """Which script each call uses, and its id.

    ``mixed`` alternates calm and escalating (even index calm), so any two calls
    hold both kinds; within a kind the scripts rotate, starting at an offset
    from the seed so different seeds open with different scripts.
    """
    if kind not in KINDS:
        raise UserError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if n_calls < 1:
        raise UserError("--calls must be at least 1")
    book = book or load_scripts()
    plan = []
    for i in range(n_calls):
        if kind == "mixed":
            call_kind, j = ("calm", "escalating")[i % 2], i // 2
        else:
            call_kind, j = kind, i
        pool = book.of_kind(call_kind)
        script = pool[(seed + j) % len(pool)]
        plan.append((f"sim-{seed}-{i:03d}-{script.name}", script))
    return plan


# ----------------------------------------------------------------- synthesis


def _espeak() -> str:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise UserError(ESPEAK_MISSING)
    return binary


def _espeak_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    # "eSpeak NG text-to-speech: 1.51  Data at: ..."
    return out.split(":", 1)[1].split()[0] if ":" in out else out.strip()


def _parse_wav(data: bytes) -> tuple[int, np.ndarray]:
    """Read espeak's --stdout WAV; its data size field is bogus (streamed), so take the rest."""
    import numpy as np

    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError("espeak-ng did not return a WAV")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"fmt ":
            rate = int.from_bytes(data[pos + 12 : pos + 16], "little")
        elif chunk == b"data":
            body = data[pos + 8 :]
            return rate, np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2")
        pos += 8 + size
    raise RuntimeError("espeak-ng WAV has no data chunk")


def _synthesize(binary: str, text: str, voice: str, speed: int, pitch: int, peak: float) -> np.ndarray:
    """One utterance as 8 kHz int16, trimmed to the speech so label times are exact."""
    import numpy as np
    from scipy.signal import resample_poly

    proc = subprocess.run(
        [binary, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
        capture_output=True,
    )
    if proc.returncode != 0:
        raise UserError(f"espeak-ng failed for voice {voice}: {proc.stderr.decode(errors='replace').strip()}")
    rate, pcm = _parse_wav(proc.stdout)
    g = gcd(SAMPLE_RATE, rate)
    x = resample_poly(pcm.astype(np.float64), SAMPLE_RATE // g, rate // g)
    level = np.abs(x) / np.abs(x).max()
    audible = np.flatnonzero(level > TRIM_THRESHOLD)
    keep = np.zeros(len(x), dtype=bool)
    keep[audible[0] : audible[-1] + 1] = True  # trim leading and trailing silence
    loud = np.flatnonzero(level > PAUSE_THRESHOLD)
    half = round(MAX_PAUSE_IN_TURN_S * SAMPLE_RATE) // 2
    for k in np.flatnonzero(np.diff(loud) > 2 * half):  # shorten long pauses between sentences
        keep[loud[k] + half : loud[k + 1] - half] = False
    x = x[keep]
    x *= peak * 32767 / np.abs(x).max()
    return np.round(x).astype(np.int16)


def _voice(rng: random.Random, names, speeds, pitches) -> dict:
    return {"name": rng.choice(names), "speed_wpm": rng.randint(*speeds), "pitch": rng.randint(*pitches)}


def _gap_s(rng: random.Random, turn: Turn, kind: str) -> float:
    """Silence before a turn; negative means the customer talks over the agent."""
    if turn.speaker == "customer" and turn.frustration >= 2:
        if kind == "escalating" and rng.random() < INTERRUPT_PROBABILITY:
            return -rng.uniform(0.2, 0.6)
        return rng.uniform(0.15, 0.6)  # impatient: jumps in quickly
    return rng.triangular(0.3, 1.5, 0.7)


def render_call(call_id: str, script: Script, book: ScriptBook, binary: str) -> tuple[np.ndarray, dict]:
    """Synthesize one call: the (samples, 2) int16 stereo array and its label (without generator info)."""
    import numpy as np

    rng = random.Random(f"callradar-simulate/{call_id}")
    agent_id = f"agent-{rng.randint(100, 999)}"
    customer_tier = rng.choice(CUSTOMER_TIERS)
    voices = {
        "agent": _voice(rng, book.agent_voices, AGENT_SPEED_WPM, AGENT_PITCH),
        "customer": _voice(rng, book.customer_voices, CUSTOMER_SPEED_WPM, CUSTOMER_PITCH),
    }
    clips = []  # (speaker, start_sample, audio)
    cursor = round(rng.uniform(0.3, 0.8) * SAMPLE_RATE)  # from pick-up to the greeting
    prev_start = prev_end = 0
    last_end = {"agent": 0, "customer": 0}
    for k, turn in enumerate(script.turns):
        v = voices[turn.speaker]
        jitter = rng.randint(-TURN_JITTER, TURN_JITTER), rng.randint(-TURN_JITTER, TURN_JITTER)
        speed = v["speed_wpm"] + jitter[0] + SPEED_PER_FRUSTRATION * turn.frustration
        pitch = v["pitch"] + jitter[1] + PITCH_PER_FRUSTRATION * turn.frustration
        peak = (0.6 if turn.speaker == "agent" else 0.55) + 0.06 * turn.frustration
        audio = _synthesize(binary, turn.text, v["name"], speed, min(pitch, 99), peak)
        if k == 0:
            start = cursor
        else:
            start = prev_end + round(_gap_s(rng, turn, script.kind) * SAMPLE_RATE)
            # An interruption still lets the other side get half way, and nobody overlaps themselves.
            halfway = prev_start + (prev_end - prev_start) // 2
            start = max(start, halfway, last_end[turn.speaker] + SAMPLE_RATE // 5)
        clips.append((turn.speaker, start, audio))
        prev_start, prev_end = start, start + len(audio)
        last_end[turn.speaker] = prev_end

    total = max(end for end in last_end.values()) + round(rng.uniform(0.4, 0.8) * SAMPLE_RATE)
    stereo = np.zeros((total, 2), dtype=np.int16)
    transcript = []
    for turn, (speaker, start, audio) in zip(script.turns, clips):
        stereo[start : start + len(audio), CHANNELS[speaker]] = audio
        entry = {
            "speaker": speaker,
            "start": round(start / SAMPLE_RATE, 3),
            "end": round((start + len(audio)) / SAMPLE_RATE, 3),
            "text": turn.text,
        }
        if speaker == "customer":
            entry["frustration"] = turn.frustration
        transcript.append(entry)

    k = script.escalation_turn
    label = {
        "call_id": call_id,
        "script": script.name,
        "outcome": OUTCOMES[script.kind],
        "escalation_time": transcript[k]["start"] if k is not None else None,
        "escalation_turn": k,
        "duration": round(total / SAMPLE_RATE, 3),
        "sample_rate": SAMPLE_RATE,
        "channels": {"agent": "left", "customer": "right"},
        "wav": f"{call_id}.wav",
        "agent_id": agent_id,  # call metadata, as telephony would send it with call started
        "queue": script.queue,
        "customer_tier": customer_tier,
        "voices": voices,
        "transcript": transcript,
    }
    return stereo, label


# ------------------------------------------------------------------- on disk


def generator_fingerprint() -> str:
    """Changes whenever the scripts or this generator change, so stale cached calls are re-made."""
    h = hashlib.sha256()
    h.update(SCRIPTS_PATH.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def load_label(path: str | Path) -> dict:
    """Read a call label (``<call_id>.json``); its ``wav`` is relative to the label's folder."""
    path = Path(path)
    try:
        label = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such label file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a call label ({exc})") from None
    missing = [k for k in LABEL_KEYS if not isinstance(label, dict) or k not in label]
    if missing:
        raise UserError(f"{path}: not a call label (missing {', '.join(missing)})")
    return label


def _is_current(label_path: Path, fingerprint: str) -> bool:
    """True when the call on disk came from this generator and its WAV is whole."""
    try:
        label = load_label(label_path)
        if label.get("generator", {}).get("fingerprint") != fingerprint:
            return False
        with wave.open(str(label_path.parent / label["wav"]), "rb") as w:
            frames, channels, rate = w.getnframes(), w.getnchannels(), w.getframerate()
    except (UserError, OSError, EOFError, wave.Error, KeyError):
        return False
    return channels == 2 and rate == SAMPLE_RATE and abs(frames / rate - label["duration"]) < 0.001


def _write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Write via a temp file and rename, so an interrupted run never leaves a half file behind."""
    tmp = str(path.with_name(f".{path.name}.{os.getpid()}.tmp"))
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_wav(path: Path, stereo: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with wave.open(tmp, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(stereo.astype("<i2").tobytes())

    _write_atomic(path, write)


def _write_json(path: Path, doc: dict) -> None:
    _write_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=2) + "\n"))


def simulate_calls(
    out_dir: str | Path,
    n_calls: int,
    seed: int,
    kind: str = "mixed",
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Make (or reuse) ``n_calls`` calls in ``out_dir``; returns their label paths in call order.

    Also writes ``manifest.json`` listing exactly these calls. ``progress``
    gets one line per call.
    """
    book = load_scripts()
    plan = plan_calls(n_calls, seed, kind, book)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = generator_fingerprint()
    binary = espeak_version = None
    labels, entries = [], []
    for i, (call_id, script) in enumerate(plan, 1):
        label_path = out / f"{call_id}.json"
        if not force and _is_current(label_path, fingerprint):
            label, how = load_label(label_path), "reused"
        else:
            if binary is None:
                binary = _espeak()
                espeak_version = _espeak_version(binary)
            stereo, label = render_call(call_id, script, book, binary)
            label["seed"] = seed
            label["generator"] = {"fingerprint": fingerprint, "espeak_ng": espeak_version}
            _write_wav(out / label["wav"], stereo)  # WAV first: a label implies its WAV is whole
            _write_json(label_path, label)
            how = "synthesized"
        if progress:
            esc = label["escalation_time"]
            esc = f", escalation at {esc:.1f} s" if esc is not None else ""
            progress(f"[{i}/{len(plan)}] {call_id}: {label['outcome']}, {label['duration']:.1f} s{esc} ({how})")
        labels.append(label_path)
        entries.append(
            {
                "call_id": call_id,
                "script": label["script"],
                "outcome": label["outcome"],
                "escalation_time": label["escalation_time"],
                "duration": label["duration"],
                "wav": label["wav"],
                "label": label_path.name,
            }
        )
    manifest = {
        "seed": seed,
        "kind": kind,
        "n_calls": n_calls,
        "sample_rate": SAMPLE_RATE,
        "channels": {"agent": "left", "customer": "right"},
        "generator": {"fingerprint": fingerprint},
        "calls": entries,
    }
    _write_json(out / "manifest.json", manifest)
    return labels
