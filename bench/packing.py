"""Packing several utterances into one Whisper window: how much CPU it saves, what it costs in words.

    .venv/bin/python bench/packing.py [--pack 3] [--gap-s 1.0]

The adaptive context (models/whisper_decode.py) never gives Whisper less than a 10 s window,
because tiny.en loops in shorter ones; a median utterance is about 2 s, so most of each
window is padding. Here consecutive utterances (in end-time order, as the live queue hands
them over) are laid end to end with ``--gap-s`` of silence between them, up to ``--pack``
per window, decoded once with timestamps, and each timestamped segment is given back to the
utterance its midpoint falls in. Against the default path (one window per utterance, same
batches) on the same utterance set as bench/transcription.py: word error rate per set, how
often a segment straddles two utterances (its text can't be split), CPU per utterance.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from transcription import (  # noqa: E402
    RATE,
    make_stt,
    quality,
    real_set,
    reference_set,
    simulated_set,
)

from callradar.models.speech import max_new_tokens  # noqa: E402
from callradar.models.whisper_decode import ContextPolicy  # noqa: E402
from callradar.pipeline.settings import load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def decode_packed(stt, audios: list[np.ndarray], gap_s: float) -> tuple[list[str], int]:
    """One window for all ``audios``; returns each one's text and how many segments straddled two."""
    dec = stt.decoder
    gap = np.zeros(int(gap_s * RATE), np.float32)
    starts, pieces, t = [], [], 0.0
    for a in audios:
        starts.append((t, t + len(a) / RATE))
        pieces += [a, gap]
        t += (len(a) + len(gap)) / RATE
    audio = np.concatenate(pieces[:-1])
    feats = dec.features(audio)
    frames = ContextPolicy().frames_for(feats.shape[1])
    batch = np.zeros((1, feats.shape[0], frames), np.float32)
    batch[0, :, : feats.shape[1]] = feats
    encoded = dec.whisper.encode(batch)
    tok = dec._tokenizer("en")
    cap = sum(max_new_tokens(len(a) / RATE) for a in audios) + 4 * len(audios)
    result = dec.whisper.model.generate(encoded, [tok.sot_sequence], beam_size=1, max_length=len(tok.sot_sequence) + cap,
                                        suppress_blank=True, suppress_tokens=dec.suppress_tokens)[0]
    texts, straddled = [[] for _ in audios], 0
    seg_start, seg_tokens = None, []
    for token in result.sequences_ids[0]:
        if token >= tok.timestamp_begin:
            ts = (token - tok.timestamp_begin) * 0.02
            if seg_start is None:
                seg_start = ts
            else:
                if seg_tokens:
                    mid = (seg_start + ts) / 2
                    owners = [i for i, (s, e) in enumerate(starts) if seg_start < e and ts > s]
                    straddled += len(owners) > 1
                    best = min(range(len(starts)), key=lambda i: 0 if starts[i][0] <= mid <= starts[i][1]
                               else min(abs(mid - starts[i][0]), abs(mid - starts[i][1])))
                    texts[best].append(tok.decode(seg_tokens).strip())
                seg_start, seg_tokens = None, []
        else:
            seg_tokens.append(token)
    if seg_tokens:  # ran out of tokens without a closing timestamp: give it to the last one open
        texts[-1].append(tok.decode(seg_tokens).strip())
    return [" ".join(t).strip() for t in texts], straddled


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=int, default=3, help="utterances per window at most")
    parser.add_argument("--gap-s", type=float, default=1.0, help="silence between packed utterances")
    parser.add_argument("--max-window-s", type=float, default=10.0, help="pack while the window stays this short")
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--name", default="packing")
    args = parser.parse_args(argv)

    settings = load_settings()
    print("building the utterance set ...", flush=True)
    sim, channel_texts = simulated_set(settings, [11, 21], args.calls)
    utts = sorted(reference_set() + sim + real_set(settings), key=lambda u: (u.set, u.order))
    stt = make_stt(settings, "adaptive", 1)
    print(f"{len(utts)} utterances; naive texts for the real calls ...", flush=True)
    naive = make_stt(settings, "full", 1)
    for u in utts:
        if u.set == "real":
            u.texts["naive"] = naive.transcribe(u.audio).text
    del naive

    # Groups as the live queue would pack them: consecutive, within the window limit.
    groups, group = [], []
    for u in utts:
        total = sum(x.duration_s for x in group) + u.duration_s + args.gap_s * len(group)
        if group and (len(group) >= args.pack or total > args.max_window_s or group[0].set != u.set):
            groups.append(group)
            group = []
        group.append(u)
    groups.append(group)

    cpu = {}
    straddled = 0
    for mode in ("adaptive", "packed", "adaptive", "packed"):  # interleaved, second pass timed
        c0 = time.process_time()
        for g in groups:
            if mode == "adaptive":
                texts = [r.text for r in stt.transcribe_batch([u.audio for u in g])]
            else:
                texts, s = decode_packed(stt, [u.audio for u in g], args.gap_s)
                straddled += s
            for u, text in zip(g, texts):
                u.texts[mode] = text
        cpu[mode] = time.process_time() - c0
        print(f"{mode}: {cpu[mode]:.1f} s CPU for {len(utts)} utterances", flush=True)
    straddled //= 2
    audio_s = sum(u.duration_s for u in utts)
    report = {
        "command": "bench/packing.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "utterances": len(utts), "windows": len(groups), "audio_s": round(audio_s, 1),
        "pack": args.pack, "gap_s": args.gap_s, "max_window_s": args.max_window_s,
        "cpu_s": {m: round(c, 1) for m, c in cpu.items()},
        "cpu_rtf": {m: round(c / audio_s, 4) for m, c in cpu.items()},
        "segments_straddling_two_utterances": straddled,
        "quality": {m: quality(utts, channel_texts, m) for m in ("adaptive", "packed")},
        "texts_differ": sum(u.texts["adaptive"] != u.texts["packed"] for u in utts),
    }
    for m in ("adaptive", "packed"):
        q = report["quality"][m]
        print(m, {k: v["wer"] for k, v in q.items() if isinstance(v, dict) and "wer" in v}, "loops", len(q["loops"]))
    print(json.dumps({k: v for k, v in report.items() if k != "quality"}, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
