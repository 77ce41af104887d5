"""The two readings a reference transcript of the real calls is settled from (not the reference itself).

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python bench/reference/draft_reference.py --out /tmp/draft.json

For each channel of auto_repairs_40 and auto_repairs_49 (../shared/data/audio/calls):
- ``whole``: the whole channel through faster-whisper tiny.en (resolved as the project
  resolves it) with Whisper's full 30 s context, beam 5, conditioned on previous text, with
  word timestamps: the most careful reading tiny.en gives, and the word timings;
- ``live``: the channel fed to the transcribe stage's ChannelTrack in 40 ms chunks at 8 kHz
  (stream resampler, energy segmenter with today's settings), each utterance transcribed
  by SpeechToText with the live settings.
The reference JSON (auto_repairs_reference.json) was settled by hand from this output; see
the README next to this file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CALLS_DIR = ROOT.parent / "shared" / "data" / "audio" / "calls"
CALLS = ("auto_repairs_40", "auto_repairs_49")
SIDES = (("agent", "agent"), ("caller", "customer"))  # file suffix, pipeline channel name
CHUNK_MS = 40


def channel_int16(call: str) -> tuple[int, dict[str, np.ndarray]]:
    from callradar.pipeline.audio.pcm import read_call_audio

    rate, agent, customer = read_call_audio([CALLS_DIR / f"{call}_{side}.wav" for side, _ in SIDES])
    return rate, {"agent": agent, "customer": customer}


def live_segments(call: str, channel: str, pcm: np.ndarray, rate: int, settings, chunk_ms: int = CHUNK_MS):
    """The live path's utterances of one channel, chunk by chunk as the transcribe stage gets them."""
    from callradar.pipeline.records import AudioChunk
    from callradar.pipeline.stages.transcribe import ChannelTrack

    track = ChannelTrack(call, channel, settings)
    n = rate * chunk_ms // 1000
    out = []
    for seq in range(len(pcm) // n):
        chunk = AudioChunk(call, channel, seq, rate, seq * chunk_ms / 1000, pcm[seq * n : (seq + 1) * n].astype("<i2").tobytes())
        out += track.feed(chunk, 0.0)
    return out + track.finish()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from faster_whisper import WhisperModel

    from callradar.models.speech import SpeechToText, resolve_whisper_model
    from callradar.pipeline.audio.pcm import int16_to_float, resample
    from callradar.pipeline.settings import load_settings

    settings = load_settings()
    resolved = resolve_whisper_model(settings.whisper_model, state_dir=settings.state_dir)
    whole_model = WhisperModel(str(resolved.path), device="cpu", compute_type="int8", cpu_threads=1,
                               local_files_only=True)
    stt = SpeechToText(settings, resolved=resolved)
    out = {"model": stt.model_id, "chunk_ms": CHUNK_MS, "channels": {}}
    for call in CALLS:
        rate, channels = channel_int16(call)
        for channel, pcm in channels.items():
            audio = resample(int16_to_float(pcm), rate, 16000)
            segments, _ = whole_model.transcribe(audio, language="en", beam_size=5, condition_on_previous_text=True,
                                                 word_timestamps=True, vad_filter=False)
            words = [{"w": w.word.strip(), "s": round(w.start, 2), "e": round(w.end, 2), "p": round(w.probability, 3)}
                     for seg in segments for w in (seg.words or [])]
            utts = live_segments(call, channel, pcm, rate, settings)
            texts = stt.transcribe_batch([u.audio for u in utts])
            live = [{"index": u.index, "start": round(u.start, 3), "end": round(u.end, 3), "text": t.text,
                     "confidence": round(t.confidence, 3)} for u, t in zip(utts, texts)]
            out["channels"][f"{call}:{channel}"] = {"duration_s": round(len(pcm) / rate, 2), "whole": words, "live": live}
            print(f"{call}:{channel}: {len(words)} words whole, {len(live)} live utterances", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
