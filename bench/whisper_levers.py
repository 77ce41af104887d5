"""Cheaper Whisper per utterance where quality holds (issue 17, item 3): each lever alone, one run.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python bench/whisper_levers.py   # about 10 min on a busy 2-core machine

Utterances: those of both channels of the two real calls (../shared/data/audio/calls) whose middle
lies in a reference stretch, cut by the live segmenter (CALLRADAR_SEGMENTER, default) from 40 ms
chunks through the stage's stream resampler, and the reference clips (../shared/data/audio/reference), whole. Each lever is one change to the
default decoding (models/speech.py, models/whisper_decode.py), everything else as live (tiny.en
int8, one thread, beam 1, one utterance at a time, as an idle worker transcribes):
- cost: CPU seconds per second of audio over all utterances (process time: other people's load
  does not inflate it as it does wall time), min over ``--repeats`` passes, levers interleaved;
- quality: word error rate against the reference transcript (bench/reference/auto_repairs_reference.json,
  the utterances whose middle lies in a stretch) and against the clips' texts; and per utterance,
  how many have more word errors than with the default (against the reference words inside the
  utterance's audio). A lever is kept only if it is cheaper and no utterance is worse.
First a profile of one pass of the default: features, encoder, decoder, loop re-decodes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.segmentation import AUDIO, REFERENCE, REFERENCE_CLIPS, call_channels, stream_segments, words  # noqa: E402
from callradar.models import speech  # noqa: E402
from callradar.models.wer import edit_distance  # noqa: E402
from callradar.models.whisper_decode import AdaptiveDecoder, ContextPolicy  # noqa: E402
from callradar.pipeline.audio.pcm import resample  # noqa: E402
from callradar.pipeline.settings import load_settings  # noqa: E402

RATE = 16000


@dataclass
class Utt:
    name: str
    audio: np.ndarray
    span: tuple[float, float] | None  # audio span on the call clock (real calls)
    mid: float | None
    call_channel: str | None
    clip_text: str | None = None


class TimestampDecoder(AdaptiveDecoder):
    """The default decoder with Whisper's timestamp tokens allowed (faster-whisper's default)."""

    def _generate(self, features, caps):
        encoded = self.whisper.encode(features)
        tokenizers = [self._tokenizer(code) for code in self._languages(encoded, len(caps))]
        prompts = [list(t.sot_sequence) for t in tokenizers]
        results = self.whisper.model.generate(
            encoded, prompts, beam_size=self.beam_size, max_length=max(len(p) for p in prompts) + max(caps),
            return_scores=True, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=self.suppress_tokens,
        )
        frames = features.shape[-1]
        return [self._read(r, t, cap, frames) for r, t, cap in zip(results, tokenizers, caps)]


class BlasMelDecoder(AdaptiveDecoder):
    """The default decoder with the mel filter bank applied by BLAS on ``threads`` threads: the
    features before models/speech.py's ``ThreadFreeMelFilters`` (the live worker had 1 thread,
    ``callradar analyze --workers 1`` every core)."""

    def __init__(self, *args, threads: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.threads = threads

    def features(self, audio):
        from threadpoolctl import threadpool_limits

        extractor = self.whisper.feature_extractor
        thread_free = extractor.mel_filters
        extractor.mel_filters = thread_free.filters
        try:
            with threadpool_limits(self.threads, user_api="blas"):
                return super().features(audio)
        finally:
            extractor.mel_filters = thread_free


def tokens_cap(per_s: float, extra: int):
    return lambda d: min(speech.MAX_TOKENS, int(per_s * d) + extra)


def levers(whisper, language):
    """name -> (decoder, token cap per duration); the first is today's default."""
    default_cap = speech.max_new_tokens
    make = lambda cls=AdaptiveDecoder, **kw: cls(whisper, beam_size=1, language=language, **kw)  # noqa: E731
    return {
        "default": (make(), default_cap),
        "timestamps on": (make(TimestampDecoder), default_cap),
        "mel by BLAS 1 thread": (make(BlasMelDecoder, threads=1), default_cap),
        "mel by BLAS 2 threads": (make(BlasMelDecoder, threads=2), default_cap),
        "tokens 8/s + 12": (make(), tokens_cap(8, 12)),
        # 8 and 6 s round up to the same 10 s window in 5 s buckets: identical decodes, an A/A check
        "floor 8 s": (make(policy=ContextPolicy(min_frames=800)), default_cap),
        "floor 6 s": (make(policy=ContextPolicy(min_frames=600)), default_cap),
        "floor 5 s": (make(policy=ContextPolicy(min_frames=500)), default_cap),
        "margin 2 s": (make(policy=ContextPolicy(margin_frames=200)), default_cap),
        "buckets 2 s": (make(policy=ContextPolicy(bucket_frames=200)), default_cap),
    }


def utterances(reference: dict) -> list[Utt]:
    settings = load_settings()
    out = []
    for call in sorted({s["call"] for s in reference["stretches"]}):
        rate, channels = call_channels(call)
        for channel, pcm in channels.items():
            stretches = [st for st in reference["stretches"] if (st["call"], st["channel"]) == (call, channel)]
            for s in stream_segments(pcm, rate, settings.segmenter, 40):
                if not any(st["start"] <= (s.start_s + s.end_s) / 2 < st["end"] for st in stretches):
                    continue  # only utterances the reference covers
                start = s.audio_start_sample / RATE
                out.append(Utt(f"{call}:{channel}:{s.index}", s.audio, (start, start + len(s.audio) / RATE),
                               (s.start_s + s.end_s) / 2, f"{call}:{channel}"))
    import soundfile as sf

    for (name, channel), text in REFERENCE_CLIPS.items():
        data, rate = sf.read(str(AUDIO / "reference" / name), dtype="float32", always_2d=True)
        out.append(Utt(f"{name}:{channel}", resample(data[:, channel].copy(), rate, RATE), None, None, None, text))
    return out


def decode_all(decoder, cap, utts: list[Utt]) -> tuple[list[str], float]:
    texts, cpu = [], 0.0
    for u in utts:
        t0 = time.process_time()
        d = decoder.decode([u.audio], [cap(len(u.audio) / RATE)])[0]
        cpu += time.process_time() - t0
        texts.append(d.text)
    return texts, cpu


def score(texts: list[str], utts: list[Utt], reference: dict) -> dict:
    by_channel: dict[str, list[dict]] = {}
    for s in reference["stretches"]:
        by_channel.setdefault(f"{s['call']}:{s['channel']}", []).append(s)
    edits = n_words = 0
    for key, stretches in by_channel.items():
        for s in stretches:
            hyp = " ".join(t for u, t in zip(utts, texts) if u.call_channel == key and s["start"] <= u.mid < s["end"])
            ref = words(" ".join(w["w"] for w in s["words"]))
            edits += edit_distance(ref, words(hyp))
            n_words += len(ref)
    clip_edits = clip_words = 0
    per_utt = []
    for u, t in zip(utts, texts):
        if u.clip_text is not None:
            ref = words(u.clip_text)
            clip_edits += edit_distance(ref, words(t))
            clip_words += len(ref)
            per_utt.append(edit_distance(ref, words(t)))
        else:
            ref = [w["w"] for s in by_channel.get(u.call_channel, []) for w in s["words"]
                   if u.span[0] <= (w["s"] + w["e"]) / 2 < u.span[1]]
            in_stretch = any(s["start"] <= u.mid < s["end"] for s in by_channel.get(u.call_channel, []))
            per_utt.append(edit_distance(words(" ".join(ref)), words(t)) if in_stretch else None)
    return {"reference_wer": round(edits / n_words, 4), "reference_words": n_words,
            "clips_wer": round(clip_edits / clip_words, 4), "clip_words": clip_words, "per_utterance_edits": per_utt}


def profile(decoder: AdaptiveDecoder, cap, utts: list[Utt]) -> dict:
    """Where one pass of the default goes: features, encoder, decoder (CPU seconds)."""
    spent = {"features": 0.0, "encode": 0.0, "generate": 0.0}
    whisper = decoder.whisper
    real_encode, real_generate, real_features = whisper.encode, whisper.model.generate, decoder.features

    def timed(name, fn):
        def wrapper(*a, **kw):
            t0 = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] += time.process_time() - t0
        return wrapper

    whisper.encode = timed("encode", real_encode)
    decoder.features = timed("features", real_features)

    class Model:  # the CTranslate2 model's generate, timed; everything else passes through
        def __getattr__(self, name):
            return getattr(real_model, name)

    real_model = whisper.model
    whisper.model = Model()
    whisper.model.generate = timed("generate", real_generate)
    fallbacks = decoder.fallbacks
    try:
        _, total = decode_all(decoder, cap, utts)
    finally:
        whisper.encode, whisper.model = real_encode, real_model
        del decoder.features
    return {"total_cpu_s": round(total, 3), **{k: round(v, 3) for k, v in spent.items()},
            "other": round(total - sum(spent.values()), 3), "loop_redecodes": decoder.fallbacks - fallbacks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--levers", default="", help="comma-separated lever names to run (the default always runs)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "whisper_levers.json")
    args = parser.parse_args()

    settings = load_settings()
    reference = json.loads(REFERENCE.read_text())
    stt = speech.SpeechToText(settings)
    utts = utterances(reference)
    audio_s = sum(len(u.audio) for u in utts) / RATE
    print(f"{len(utts)} utterances, {audio_s:.1f} s of audio; segmenter {settings.segmenter}", flush=True)
    table = levers(stt._model, stt.language)
    if args.levers:
        chosen = {"default", *(name.strip() for name in args.levers.split(","))}
        unknown = chosen - set(table)
        if unknown:
            parser.error(f"unknown lever(s) {', '.join(sorted(unknown))}; choose from {', '.join(table)}")
        table = {name: lever for name, lever in table.items() if name in chosen}
    result = {"command": "bench/whisper_levers.py " + " ".join(sys.argv[1:]), "load_before": os.getloadavg(),
              "segmenter": settings.segmenter, "utterances": len(utts), "audio_s": round(audio_s, 1),
              "model": stt.model_id}
    result["profile_default"] = profile(*table["default"], utts)
    print("profile:", result["profile_default"], flush=True)
    cpu: dict[str, list[float]] = {name: [] for name in table}
    texts: dict[str, list[str]] = {}
    for rep in range(args.repeats):
        for name, (decoder, cap) in table.items():
            texts[name], spent = decode_all(decoder, cap, utts)
            cpu[name].append(spent)
        print(f"pass {rep + 1}: " + ", ".join(f"{n} {c[-1]:.1f}" for n, c in cpu.items()), flush=True)
    base = score(texts["default"], utts, reference)
    rows = {}
    for name in table:
        s = base if name == "default" else score(texts[name], utts, reference)
        worse = sum(1 for a, b in zip(s["per_utterance_edits"], base["per_utterance_edits"])
                    if a is not None and b is not None and a > b)
        better = sum(1 for a, b in zip(s["per_utterance_edits"], base["per_utterance_edits"])
                     if a is not None and b is not None and a < b)
        best = min(cpu[name])
        rows[name] = {"cpu_s": round(best, 3), "cpu_per_audio_s": round(best / audio_s, 4),
                      "vs_default": round(best / min(cpu["default"]), 3), "cpu_all_passes": [round(c, 3) for c in cpu[name]],
                      "reference_wer": s["reference_wer"], "clips_wer": s["clips_wer"],
                      "utterances_worse": worse, "utterances_better": better,
                      "texts_changed": sum(1 for a, b in zip(texts[name], texts["default"]) if a != b),
                      "changed": [{"utt": u.name, "default": b, "lever": a}
                                  for u, a, b in zip(utts, texts[name], texts["default"]) if a != b][:40]}
        print(f"{name}: {json.dumps({k: v for k, v in rows[name].items() if k != 'changed'})}", flush=True)
    result["reference_words"], result["clip_words"] = base["reference_words"], base["clip_words"]
    result["levers"] = rows
    result["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
