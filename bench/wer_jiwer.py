"""models/wer.py's hand-written edit distance against jiwer, on the same normalised text, in one run.

    nice -n 5 .venv/bin/python bench/wer_jiwer.py

Pairs (reference, hypothesis):
- whisper: the transcripts in bench/results/resampler.json (JFK against its text, and each
  real channel through soxr against through our resampler), where that file exists;
- utterances: ``--pairs`` customer-support utterances (../shared/data/intents/bitext; a fixed
  list of sentences where absent), each with a seeded ASR-like corruption: word substitutions,
  deletions, insertions at 0-60 %, case and punctuation changes, curly apostrophes;
- calls: ``--calls`` call-length pairs, 60 utterances joined (about 600 words), corrupted the same way;
- edges: empty and punctuation-only texts on either side.
Both implementations see exactly the words of ``normalize_words`` (jiwer's default transform
only splits on spaces, which our words never contain). Reported: pairs whose edit counts
differ, corpus WER from each, and time per pair (best of ``--repeats``); the hand-written
programme is kept here as it was, and models.wer.edit_distance (jiwer now) is timed beside it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from importlib.metadata import version
from pathlib import Path

import jiwer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callradar.models.wer import edit_distance, normalize_words  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FALLBACK = ["I don't have an online account, what do I have to do to register?",
            "I want to speak to a manager right now.", "Can you tell me where my refund is?",
            "This is the third time I've called about this bill."]
EDGES = [("", ""), ("", "hello there"), ("hello there", ""), ("\u2014", "..."), ("Don't!", "dont"),
         ("third-time", "third time"), ("   ", "a"), ("a", "a a a a")]
VOCAB = "the a to and uh um yes no okay account refund order manager call".split()


def hand_written(reference: list[str], hypothesis: list[str]) -> int:
    """models/wer.py's edit distance before this comparison: the textbook dynamic programme."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


def with_jiwer(ref: list[str], hyp: list[str]) -> int:
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return out.substitutions + out.deletions + out.insertions


def corrupt(text: str, rng: random.Random) -> str:
    rate = rng.choice([0.0, 0.05, 0.1, 0.2, 0.4, 0.6])
    words = []
    for word in text.split():
        roll = rng.random()
        if roll < rate / 3:
            continue  # deletion
        if roll < 2 * rate / 3:
            word = rng.choice(VOCAB)  # substitution
        elif roll < rate:
            words.append(rng.choice(VOCAB))  # insertion
        words.append(word.upper() if rng.random() < 0.05 else word)
    out = " ".join(words).replace("'", "\u2019" if rng.random() < 0.3 else "'")
    return out.rstrip(".?!,") + rng.choice(["", ".", "?", "!"])


def pairs(args) -> dict[str, list[tuple[str, str]]]:
    rng = random.Random(args.seed)
    path = DATA / "intents" / "bitext" / "bitext_customer_support_21k.csv"
    if path.exists():
        with path.open(encoding="utf-8-sig", newline="") as f:
            texts = [row["utterance"] for row in csv.DictReader(f)]
    else:
        texts = FALLBACK
    sample = [rng.choice(texts) for _ in range(args.pairs)]
    out = {"utterances": [(t, corrupt(t, rng)) for t in sample]}
    calls = [" ".join(rng.choice(texts) for _ in range(60)) for _ in range(args.calls)]
    out["calls"] = [(t, corrupt(t, rng)) for t in calls]
    out["edges"] = EDGES
    resampler = Path("bench/results/resampler.json")
    if resampler.exists():
        whisper = json.loads(resampler.read_text()).get("whisper_40ms", {})
        found = []
        for name, row in whisper.items():
            if isinstance(row, dict) and "texts" in row:
                ours, soxr_text = row["texts"].values()
                found.append((ours, soxr_text))
                if name == "jfk_8k":
                    truth = ("And so my fellow Americans, ask not what your country can do for you, "
                             "ask what you can do for your country.")
                    found += [(truth, ours), (truth, soxr_text)]
        if found:
            out["whisper"] = found
    return out


def timed(fn, normalised, repeats: int) -> tuple[list[int], float]:
    best, result = float("inf"), []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = [fn(r, h) for r, h in normalised]
        best = min(best, time.perf_counter() - t0)
    return result, best / len(normalised) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/wer_jiwer.json"))
    args = parser.parse_args()

    result = {"command": "bench/wer_jiwer.py " + " ".join(sys.argv[1:]), "jiwer": version("jiwer"), "sets": {}}
    for name, set_pairs in pairs(args).items():
        normalised = [(normalize_words(r), normalize_words(h)) for r, h in set_pairs]
        ours, ours_us = timed(hand_written, normalised, args.repeats)
        theirs, theirs_us = timed(with_jiwer, normalised, args.repeats)
        shipped, shipped_us = timed(edit_distance, normalised, args.repeats)
        words = sum(len(r) for r, _ in normalised)
        differ = [(set_pairs[i], ours[i], theirs[i]) for i in range(len(ours)) if ours[i] != theirs[i]]
        row = {"pairs": len(normalised), "reference_words": words,
               "mean_reference_words": round(words / len(normalised), 1),
               "pairs_whose_edit_counts_differ": len(differ), "first_differences": differ[:5],
               "shipped_edit_distance_agrees": shipped == ours,
               "corpus_wer": {"hand-written": round(sum(ours) / words, 6) if words else None,
                              "jiwer": round(sum(theirs) / words, 6) if words else None},
               "us_per_pair": {"hand-written": round(ours_us, 1), "jiwer": round(theirs_us, 1),
                               "models.wer.edit_distance (jiwer, checked words)": round(shipped_us, 1)}}
        if name == "edges":
            row["edit_counts"] = [{"reference": r, "hypothesis": h, "hand-written": a, "jiwer": b}
                                  for (r, h), a, b in zip(set_pairs, ours, theirs)]
        result["sets"][name] = row
        print(f"{name}: {len(normalised)} pairs, {words} reference words; edit counts differ on {len(differ)}; "
              f"corpus WER {row['corpus_wer']}; us per pair {row['us_per_pair']} "
              f"({ours_us / theirs_us:.1f}x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
