"""The score stage's cost per utterance: the committed call features and risk model against the working tree's, one run.

    .venv/bin/python bench/score_cost.py [--rev HEAD] [--repeats 3] [--threads 2]

"Before" is ``models/call_features.py``, ``models/risk.py`` and the bundled risk model
as committed at ``--rev`` (read with ``git show``, loaded under other module names);
"after" is the working tree. Both run inside the same ScoreProcessor (same text
scorer, same utterances, the real transcripts of the two calls in
``bench/results/transcription.json``, spread over 16 calls), interleaved, best of
``--repeats`` each (the least disturbed by others on a shared machine):

- the whole score stage, batched (64) and one utterance at a time;
- the call features and the risk model alone (CallState.add, features, predict),
  which is all this change touches, in microseconds per utterance;
- the call state snapshot the score stage writes to its changelog after every
  utterance: JSON bytes at the end of each call, mean over the 16 calls.

A third variant, "text", is the working tree with the bundled model plus a text part
(issue 14: an LR over the 768 pooled embedding numbers, one more feature). Its weights
are seeded random numbers: the cost of a dot product does not depend on them.

Writes bench/results/score_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def committed_module(rev: str, path: str, name: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    module = types.ModuleType(name)
    module.__file__ = str(ROOT / path)
    sys.modules[name] = module
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    return module


def with_text_part(model):
    """``model`` plus a text part of seeded random weights over the 2 x 384 pooled embedding numbers."""
    from callradar.models.call_features import POOLED
    from callradar.models.risk import SCHEMA_TEXT, TEXT_FEATURE, RiskModel

    doc = model.to_dict()
    coef = [round(float(c), 6) for c in np.random.default_rng(0).normal(0, 0.1, 768)]
    return RiskModel.from_dict({
        **doc, "schema": SCHEMA_TEXT, "version": doc["version"] + "+text",
        "feature_names": [*doc["feature_names"], TEXT_FEATURE], "coef": [*doc["coef"], 0.5],
        "means": [*doc["means"], 0.5], "scales": [*doc["scales"], 0.2],
        "shrink": {**doc["shrink"], "features": [*doc["shrink"]["features"], TEXT_FEATURE]},
        "text_part": {"input": POOLED, "encoder": "all-MiniLM-L6-v2", "coef": coef, "intercept": 0.0}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    import torch

    torch.set_num_threads(a.threads)
    import callradar.pipeline.stages.score as score_stage
    from callradar.models.call_features import CallState
    from callradar.models.risk import RiskModel
    from callradar.models.text_scorer import TextScorer
    from callradar.models.types import ScoredUtterance
    from callradar.pipeline.records import Utterance

    old_features = committed_module(a.rev, "models/call_features.py", "committed_call_features")
    old_risk_module = committed_module(a.rev, "models/risk.py", "committed_risk")
    old_doc = json.loads(subprocess.run(["git", "show", f"{a.rev}:models/artifacts/risk/model.json"], cwd=ROOT,
                                        check=True, capture_output=True, text=True).stdout)
    class CommittedState(old_features.CallState):  # takes the score stage's pooled=False (it never asks for True)
        def features(self, pooled: bool = False):
            return super().features()

    before = (CommittedState, old_risk_module.RiskModel.from_dict(old_doc))
    before[1].text_part = None  # what the score stage asks of a risk model now
    after = (CallState, RiskModel.load())
    text = (CallState, with_text_part(RiskModel.load()))

    texts = [t["adaptive-4"] for t in json.loads((ROOT / "bench/results/transcription.json").read_text())["texts"]
             if t["set"] == "real" and t["adaptive-4"]] * 2
    utts = [Utterance(f"bench-{i % 16}/{'customer' if i % 2 else 'agent'}/{i}", f"bench-{i % 16}",
                      "customer" if i % 2 else "agent", i, 3.0 * i, 3.0 * i + 2.5, text, 0.9, 0.0,
                      no_speech_prob=0.05)
            for i, text in enumerate(texts)]
    scorer = TextScorer.load()
    scorer.score_batch(texts[:64], ["customer"] * 64)  # warm
    scored = list(zip(utts, scorer.score_batch([u.text for u in utts], [u.speaker for u in utts])))

    def stage_rate(variant, step: int) -> float:
        state_cls, model = variant
        score_stage.CallState = state_cls
        try:
            processor = score_stage.ScoreProcessor(scorer, model)
            t0 = time.perf_counter()
            for start in range(0, len(utts), step):
                processor.score(utts[start:start + step], now=0.0)
            return len(utts) / (time.perf_counter() - t0)
        finally:
            score_stage.CallState = CallState

    def features_us(variant, states=None) -> float:
        state_cls, model = variant
        states = {} if states is None else states
        pooled = {"pooled": True} if getattr(model, "text_part", None) is not None else {}
        t0 = time.perf_counter()
        for u, ts in scored:
            st = states.setdefault(u.call_id, state_cls())
            st.add(ScoredUtterance(u.speaker, u.start, u.end, u.text, ts, u.confidence, u.no_speech_prob)
                   if state_cls is CallState else ScoredUtterance(u.speaker, u.start, u.end, u.text, ts))
            model.predict(st.features(**pooled))
        return 1e6 * (time.perf_counter() - t0) / len(scored)

    snapshot_bytes = {}
    for name, variant in (("before", before), ("after", after)):
        states: dict = {}
        features_us(variant, states)
        snapshot_bytes[name] = round(sum(len(json.dumps(st.snapshot())) for st in states.values()) / len(states))

    runs = {k: [] for k in ("before_batched", "after_batched", "text_batched", "before_single", "after_single",
                            "text_single", "before_features_us", "after_features_us", "text_features_us")}
    for r in range(a.repeats):
        for name, variant in (("before", before), ("after", after), ("text", text)):
            runs[f"{name}_batched"].append(stage_rate(variant, 64))
            runs[f"{name}_single"].append(stage_rate(variant, 1))
            runs[f"{name}_features_us"].append(min(features_us(variant) for _ in range(5)))
        print(f"run {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in runs.items()), file=sys.stderr, flush=True)
    best = {k: (min(v) if k.endswith("_us") else max(v)) for k, v in runs.items()}
    out = {"command": "python bench/score_cost.py " + " ".join(sys.argv[1:]), "rev": a.rev,
           "utterances": len(utts), "threads": a.threads, "load_average": os.getloadavg(),
           "best": {k: round(v, 2) for k, v in best.items()},
           "snapshot_bytes_at_call_end": snapshot_bytes,
           "utterances_per_call": len(utts) / 16,
           "runs": {k: [round(x, 2) for x in v] for k, v in runs.items()},
           "before_model": before[1].version, "after_model": after[1].version,
           "text_model": f"{text[1].version} + text part ({len(text[1].text_part['coef'])} weights, seeded random)"}
    (ROOT / "bench" / "results" / "score_cost.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
