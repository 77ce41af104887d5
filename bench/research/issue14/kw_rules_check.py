"""A change to the keyword rules (models/keywords.yaml), measured before it ships.

    CALLRADAR_EMBEDDING_CACHE=/tmp/h4cache/emb .venv/bin/python bench/research/issue14/kw_rules_check.py \
        --old-rules OLD.yaml [--vader /tmp/exp14/data/vader_gt] [--out bench/results/kw_rules_check.json]

The shipped intent head (models/artifacts/intent) fused with the old rules and with the
bundled (new) rules, on the same rows: how many rows the change touches (their keyword
categories differ) among positives and negatives, how many one category (--category)
hits, and the fused AUROC either way; per call, how many calls it touches. The rated dialogues
and the VADER sentences are measured on only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from callradar.models.encoder import load_encoder
from callradar.models.intent import IntentModel
from callradar.models.keywords import DEFAULT_RULES, KeywordRules
from callradar.models.text_scorer import fuse_intent
from callradar.training import data as D
from callradar.training.intent import EXCLUDED_INTENTS, _auroc, _features, bitext_split, training_sources
from callradar.training.labelled_calls import read_calls

ROOT = Path(__file__).resolve().parents[3]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-rules", type=Path, required=True)
    ap.add_argument("--vader", type=Path, default=Path("/tmp/exp14/data/vader_gt"))
    ap.add_argument("--corpus", type=Path, default=ROOT / ".callradar" / "corpus")
    ap.add_argument("--satisfaction", type=Path, default=ROOT.parent / "shared" / "data" / "dialogues" / "satisfaction")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kw_rules_check.json")
    ap.add_argument("--category", default="recurring_problem", help="the category whose hits are counted")
    args = ap.parse_args()
    CATEGORY = args.category

    encoder = load_encoder("all-MiniLM-L6-v2")
    head = IntentModel.load(ROOT / "models" / "artifacts" / "intent", dim=encoder.dim)
    old, new = KeywordRules.from_yaml(args.old_rules), KeywordRules.from_yaml(DEFAULT_RULES)
    out: dict = {}

    def measure(name: str, texts: list[str], y: np.ndarray | None) -> dict:
        p = head.predict(_features(encoder, texts, f"kw-{name}")[:, : encoder.dim], texts)
        hits_new, hits_old = [new.match(t) for t in texts], [old.match(t) for t in texts]
        hit = np.array([any(h.category == CATEGORY for h in hs) for hs in hits_new])
        changed = np.array([{h.category for h in a} != {h.category for h in b} for a, b in zip(hits_old, hits_new)])
        f_old = np.array([fuse_intent(float(v), hs, old.weights) for v, hs in zip(p, hits_old)])
        f_new = np.array([fuse_intent(float(v), hs, new.weights) for v, hs in zip(p, hits_new)])
        row = {"rows": len(texts), "hits": int(hit.sum()), "changed": int(changed.sum()),
               "changed_examples": [f"{texts[i]!r}: {sorted({h.category for h in hits_old[i]})} -> "
                                    f"{sorted({h.category for h in hits_new[i]})}" for i in np.flatnonzero(changed)[:12]],
               "fused_old_ge_0.5": int((f_old >= 0.5).sum()), "fused_new_ge_0.5": int((f_new >= 0.5).sum()),
               "hit_examples": [texts[i] for i in np.flatnonzero(hit)[:12]]}
        if y is not None:
            row.update(positives=int(y.sum()), hits_in_positives=int(hit[y == 1].sum()),
                       changed_in_positives=int(changed[y == 1].sum()), changed_in_negatives=int(changed[y == 0].sum()),
                       hits_in_negatives=int(hit[y == 0].sum()),
                       negative_hit_examples=[texts[i] for i in np.flatnonzero(hit & (y == 0))[:12]],
                       fused_old_auroc=_auroc(y, f_old), fused_new_auroc=_auroc(y, f_new))
        print(f"{name}: {json.dumps({k: v for k, v in row.items() if 'examples' not in k})}", file=sys.stderr)
        for line in row["changed_examples"]:
            print(f"    {line}", file=sys.stderr)
        return row

    sources = training_sources(D.default_data_dir(), 0, 0, args.corpus / "train.parquet")
    for name in ("callstyle", "goemotions-neutral", "simulator-asr"):
        if name in sources:
            s = sources[name]
            out[name] = measure(name, s["texts"], None if name == "goemotions-neutral" else np.asarray(s["y"]))
    texts_b, intents_b, y_b, _, _, te = bitext_split(D.default_data_dir(), 0)
    keep = te[~np.isin(intents_b[te], list(EXCLUDED_INTENTS))]
    out["bitext held-out fold"] = measure("bitext", list(texts_b[keep]), y_b[keep])
    texts_a, score_a = D.load_vader_set(args.vader, "amazon")
    m = (score_a <= -1.0) | (score_a > -0.25)
    out["amazon complaint proxy (measurement only)"] = measure(
        "amazon", [t for t, k in zip(texts_a, m) if k], (score_a[m] <= -1.0).astype(int))
    out["real calm calls, customer"] = measure("calm-calls", D.calm_call_customer_texts(), None)

    # Per call: does any customer utterance hit the category? Corpus test calls and the rated dialogues.
    def per_call(name: str, calls: list[tuple[str, list[str]]]) -> dict:
        rows = Counter()
        for outcome, texts in calls:
            rows[outcome, "calls"] += 1
            rows[outcome, "hit"] += any(h.category == CATEGORY for t in texts for h in new.match(t))
            rows[outcome, "changed"] += any({h.category for h in new.match(t)} != {h.category for h in old.match(t)}
                                            for t in texts)
        res = {o: {"calls": rows[o, "calls"], "with_a_hit": rows[o, "hit"], "changed": rows[o, "changed"]}
               for o in sorted({o for o, _ in rows})}
        print(f"{name}: {res}", file=sys.stderr)
        return res

    corpus = read_calls(args.corpus / "test.parquet", labelled_only=True)
    out["corpus test calls"] = per_call("corpus", [(c.outcome, [u.text for u in c.utterances if u.speaker == "customer"])
                                                   for c in corpus])
    sys.path.insert(0, str(ROOT / "bench"))
    from satisfaction_check import dialogues

    rated = [("dissatisfied" if d["overall"] < 3 else "satisfied",
              [u["text"] for u in d["turns"] if u["speaker"] == "customer"])
             for src in ("ReDial", "CCPE") for d in dialogues(args.satisfaction, src)]
    out["rated dialogues (measurement only)"] = per_call("rated", rated)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
