"""Cost of the keyword rules per utterance, this tree against another revision's matcher and rules.

    .venv/bin/python bench/keyword_cost.py [--against REV] [--repeats 3]

Both matchers run the same texts in the same process, interleaved (best of ``--repeats``):
the corpus's utterances (``<state dir>/corpus``, what the score stage sees) and, where the
research data is there, VADER's Amazon sentences (longer, written text). It also checks that
this tree's matcher, given REV's rules file, finds exactly what REV's matcher finds, so a
speed-up cannot hide a change of behaviour. Writes bench/results/keyword_cost.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VADER = Path("/tmp/exp14/data/vader_gt")


def _at(rev: str, path: str, folder: Path) -> Path:
    out = folder / Path(path).name
    out.write_bytes(subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True,
                                   capture_output=True).stdout)
    return out


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _found(rules, texts):
    return [tuple((h.category, h.phrase, h.matched, h.score) for h in rules.match(t)) for t in texts]


def _us_per_text(rules, texts) -> float:
    t0 = time.perf_counter()
    for t in texts:
        rules.match(t)
    return (time.perf_counter() - t0) / len(texts) * 1e6


def main() -> int:
    from callradar.models.keywords import DEFAULT_RULES, KeywordRules
    from callradar.pipeline.settings import load_settings
    from callradar.training import data as D
    from callradar.training.labelled_calls import read_calls

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default="c7745f3", help="git revision to compare with (default: c7745f3)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "keyword_cost.json")
    args = ap.parse_args()

    corpus = Path(load_settings().state_dir) / "corpus" / "test.parquet"
    if not corpus.exists():
        print(f"no corpus at {corpus}: run `callradar corpus build` first", file=sys.stderr)
        return 2
    sets = {"corpus utterances": [u.text for c in read_calls(corpus) for u in c.utterances]}
    if (VADER / "amazonReviewSnippets_GroundTruth.txt").exists():
        sets["VADER amazon sentences"] = D.load_vader_set(VADER, "amazon")[0]
    with tempfile.TemporaryDirectory() as tmp:
        old_code = _module(_at(args.against, "models/keywords.py", Path(tmp)), "keywords_then")
        old_yaml = _at(args.against, "models/keywords.yaml", Path(tmp))
        then, now_on_then = old_code.KeywordRules.from_yaml(old_yaml), KeywordRules.from_yaml(old_yaml)
        matchers = {f"{args.against} (its code and rules)": then,
                    "this tree, its rules": KeywordRules.from_yaml(DEFAULT_RULES),
                    f"this tree, {args.against}'s rules": now_on_then}
        same = {name: _found(now_on_then, texts) == _found(then, texts) for name, texts in sets.items()}
    result = {"against": args.against, "same_hits_with_its_rules": same, "us_per_text": {}}
    for name, texts in sets.items():
        best = {m: float("inf") for m in matchers}
        for rep in range(args.repeats):
            for m in (list(matchers) if rep % 2 == 0 else list(reversed(matchers))):
                best[m] = min(best[m], _us_per_text(matchers[m], texts))
        result["us_per_text"][name] = {"texts": len(texts), **{m: round(v) for m, v in best.items()}}
        print(f"{name} ({len(texts)}): " + ", ".join(f"{m} {v:.0f} us" for m, v in best.items()))
    print(f"same hits as {args.against}'s matcher on its rules: {same}")
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
