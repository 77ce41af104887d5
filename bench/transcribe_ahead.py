"""Transcribe-ahead: how often the guess is used, what the wasted guesses cost, and that texts do not change.

    .venv/bin/python bench/transcribe_ahead.py                 # about 5 min on 2 cores
    .venv/bin/python bench/transcribe_ahead.py --ahead-ms 150  # another guess point

Live, an utterance ends after ``CALLRADAR_VAD_END_SILENCE_MS`` (400) of silence.
With ``CALLRADAR_VAD_TRANSCRIBE_AHEAD_MS`` (200) the transcribe stage already
transcribes it once that much silence follows, when a Whisper worker is idle;
if the silence lasts, that transcript is sent at once and the model time no
longer follows the end-of-utterance wait. If speech resumes, the guess is
wasted. This replays each channel through the segmenter in 40 ms chunks as the
stage does, transcribes every final utterance (the baseline: transcribed at
its end) and every guess, and reports per set:

* utterances, guesses, guesses used, guesses wasted;
* word error rate at the end against ahead (the reference recordings and the
  simulated calls have reference text; the real calls do not, so their texts are
  compared with each other), and how many texts differ at all;
* model time spent on wasted guesses, as a share of the model time of all final
  utterances: the extra CPU, spent only while a worker was idle.

Results: bench/results/transcribe_ahead.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from transcription import AUDIO, REAL_CALLS, REFERENCE_TEXTS, channels_16k  # noqa: E402

from callradar.models.wer import word_error_rate  # noqa: E402
from callradar.pipeline.audio.segmenter import UtteranceSegmenter  # noqa: E402
from callradar.pipeline.settings import load_settings  # noqa: E402

RATE = 16000
CHUNK = RATE * 40 // 1000


def stream(audio, settings, ahead_ms: int):
    """(finals, guesses) the live stage makes of one channel: Segments, in order."""
    segmenter = UtteranceSegmenter.from_settings(settings)
    finals, guesses = [], []
    for i in range(0, len(audio), CHUNK):
        done = segmenter.feed(audio[i : i + CHUNK])
        finals += done
        if not done:
            last = guesses[-1] if guesses else None
            guess = segmenter.tentative(ahead_ms, unless=last and (last.index, last.start_sample, last.end_sample))
            if guess is not None:
                guesses.append(guess)
    return finals + segmenter.flush(), guesses


def channels(settings, n_calls: int, seed: int):
    """(set, channel name, audio, reference text or None)."""
    for name, texts in REFERENCE_TEXTS.items():
        for audio, text in zip(channels_16k(AUDIO / "reference" / name), texts):
            if text is not None:
                yield "reference", name, audio, text
    from callradar.pipeline.simulator.calls import load_label, simulate_calls

    with tempfile.TemporaryDirectory() as tmp:
        for label_path in simulate_calls(Path(tmp), n_calls, seed):
            label = load_label(label_path)
            for speaker, audio in zip(("agent", "customer"), channels_16k(label_path.parent / label["wav"])):
                text = " ".join(t["text"] for t in label["transcript"] if t["speaker"] == speaker)
                yield "simulated", f"{label['call_id']}:{speaker}", audio, text
    for call in REAL_CALLS:
        sides = ("agent", "caller")
        for side, audio in zip(sides, channels_16k(*(AUDIO / "calls" / f"{call}_{s}.wav" for s in sides))):
            yield "real", f"{call}:{side}", audio, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ahead-ms", type=int, default=None, help="default CALLRADAR_VAD_TRANSCRIBE_AHEAD_MS")
    parser.add_argument("--calls", type=int, default=8, help="simulated calls (default 8)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("bench/results/transcribe_ahead.json"))
    args = parser.parse_args(argv)
    settings = load_settings()
    ahead_ms = args.ahead_ms or settings.vad_transcribe_ahead_ms or 200
    if not (AUDIO / "reference").exists():
        sys.exit(f"{AUDIO} is absent: put the shared data folder next to the repository")

    from callradar.models.speech import SpeechToText

    stt = SpeechToText(settings)

    def transcribe(segment) -> tuple[str, float]:
        started = time.perf_counter()
        text = stt.transcribe_batch([segment.audio])[0].text.strip()
        return text, time.perf_counter() - started

    sets: dict[str, dict] = {}
    for set_name, channel, audio, reference in channels(settings, args.calls, args.seed):
        finals, guesses = stream(audio, settings, ahead_ms)
        by_bounds = {(g.index, g.start_sample, g.end_sample): g for g in guesses}
        at_end, ahead, final_s, differ = [], [], 0.0, 0
        used = set()
        for f in finals:
            text, elapsed = transcribe(f)
            final_s += elapsed
            at_end.append(text)
            guess = by_bounds.get((f.index, f.start_sample, f.end_sample))
            if guess is not None and not f.forced_cut:
                used.add(id(guess))
                guessed, _ = transcribe(guess)
                differ += guessed != text
                ahead.append(guessed)
            else:
                ahead.append(text)
        wasted_s = sum(transcribe(g)[1] for g in guesses if id(g) not in used)
        s = sets.setdefault(set_name, {"channels": 0, "utterances": 0, "guesses": 0, "used": 0, "wasted": 0,
                                       "texts_differ": 0, "final_model_s": 0.0, "wasted_model_s": 0.0,
                                       "words": 0, "errors_at_end": 0.0, "errors_ahead": 0.0})
        s["channels"] += 1
        s["utterances"] += len(finals)
        s["guesses"] += len(guesses)
        s["used"] += len(used)
        s["wasted"] += len(guesses) - len(used)
        s["texts_differ"] += differ
        s["final_model_s"] += final_s
        s["wasted_model_s"] += wasted_s
        if reference is not None:  # scored per channel, as bench/transcription.py does
            n = len(reference.split())
            s["words"] += n
            s["errors_at_end"] += n * word_error_rate(reference, " ".join(at_end))
            s["errors_ahead"] += n * word_error_rate(reference, " ".join(ahead))
        print(f"{set_name:9s} {channel:40s} utterances {len(finals):3d}, guesses {len(guesses):3d}, "
              f"used {len(used):3d}, texts differ {differ}", flush=True)

    print(f"\nahead at {ahead_ms} ms of silence, end of utterance at {settings.vad_end_silence_ms} ms")
    for name, s in sets.items():
        s["wer_at_end"] = round(s["errors_at_end"] / s["words"], 4) if s["words"] else None
        s["wer_ahead"] = round(s["errors_ahead"] / s["words"], 4) if s["words"] else None
        s["used_share"] = round(s["used"] / s["utterances"], 3) if s["utterances"] else None
        s["extra_model_time"] = round(s["wasted_model_s"] / s["final_model_s"], 3) if s["final_model_s"] else None
        print(f"{name:9s} utterances {s['utterances']}, transcribed ahead and used {s['used']} "
              f"({s['used_share']:.0%}), wasted guesses {s['wasted']} (+{s['extra_model_time']:.0%} model time), "
              f"texts differ {s['texts_differ']}, WER at end {s['wer_at_end']} / ahead {s['wer_ahead']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"ahead_ms": ahead_ms, "end_silence_ms": settings.vad_end_silence_ms,
                                    "model": stt.model_id, "sets": sets}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
