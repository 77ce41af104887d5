"""The risk model on real conversations it was not built from: the rated satisfaction dialogues.

    .venv/bin/python bench/satisfaction_check.py [--data ../shared/data/dialogues/satisfaction] [--seed 0]

MEASUREMENT ONLY (the data's README): nothing trained here is saved into the
repository or shipped. Everything is written under a temporary folder (also the
state dir, so the feature cache and the registry stay out of .callradar) and
deleted at the end; only the figures are kept, in bench/results/satisfaction_check.json.

The 1,500 task-oriented dialogues (ReDial 1,000, CCPE 500; USER = customer, SYSTEM =
agent) become labelled calls: ``escalated`` when the overall rating's mean is below
3 (dissatisfied, about 20 % / 32 %), else ``calm``; no escalation time (the call's
end). The data has no timings, so they are synthetic: 0.4 s per word (at least
0.6 s), 0.5 s between turns; the default risk features do not use timing.

Then the commands a user runs, nothing else:

1. ``callradar evaluate --model <shipped>`` on a seeded 500-dialogue split (each source
   split 2:1) and on CCPE: the shipped model's call AUROC (highest risk over the call);
2. ``callradar train risk --no-register`` on the other 1,000, ``callradar evaluate`` of
   that model on the 500;
3. the same on ReDial -> CCPE (train on one corpus, measure on the other).

AUROC is reported pooled (what ``callradar evaluate`` prints) and within each source
(``by_source``; their mean is the fairer figure, as the two corpora have different
dissatisfaction rates).

``--models DIR`` measures another model set instead of the shipped one: DIR is a model-registry
root holding ``sentiment/``, ``intent/`` and ``risk/`` folders (the commands get it as
CALLRADAR_MODELS_DIR), e.g. candidate heads and the risk model retrained on them (docs/benchmarks.md,
"Text heads across domains"). ``--results`` writes the figures elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dialogues" / "satisfaction"
ARTIFACTS = ROOT / "models" / "artifacts"
SHIPPED = ARTIFACTS / "risk"
CALLRADAR = [str(Path(sys.executable).parent / "callradar")]


def dialogues(path: Path, name: str) -> list[dict]:
    """One corpus file: tab-separated ROLE, text, action, ratings; a USER 'OVERALL' line ends a dialogue."""
    out, turns = [], []
    for line in (path / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        role, text = parts[0], parts[1] if len(parts) > 1 else ""
        ratings = [int(x) for x in (parts[3] if len(parts) > 3 else "").split(",") if x.strip()]
        if role == "USER" and text == "OVERALL":
            out.append({"turns": turns, "overall": sum(ratings) / len(ratings)})
            turns = []
            continue
        turns.append({"speaker": "customer" if role == "USER" else "agent", "text": text.replace("%3F", "?")})
    return out


def as_call(d: dict, call_id: str, source: str) -> dict:
    utts, t = [], 0.0
    for u in d["turns"]:
        if not u["text"].strip():
            continue
        dur = max(0.6, 0.4 * len(u["text"].split()))
        utts.append({"speaker": u["speaker"], "start": round(t, 2), "end": round(t + dur, 2), "text": u["text"]})
        t += dur + 0.5
    return {"call_id": call_id, "outcome": "escalated" if d["overall"] < 3 else "calm", "source": source,
            "utterances": utts}


def write(path: Path, calls: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in calls))
    return path


def run(args: list[str], env: dict) -> float:
    t0 = time.monotonic()
    print("$ callradar " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run(CALLRADAR + args, env=env, check=True, cwd=ROOT)
    return time.monotonic() - t0


def figures(report: Path, name: str) -> dict:
    m = json.loads((report / "metrics.json").read_text())["metrics"][name]
    by = {s: v["auroc"] for s, v in m.get("by_source", {}).items()}
    end = {s: v.get("auroc_end_of_call") for s, v in m.get("by_source", {}).items()}
    return {"auroc": m["auroc"], "auroc_by_source": by,
            "auroc_mean_of_sources": round(sum(by.values()) / len(by), 4) if by else None,
            "auroc_end_of_call": m.get("auroc_end_of_call"), "auroc_end_of_call_by_source": end,
            "false_alarm_rate": m.get("false_alarm_rate"), "recall": m.get("recall")}


def model_dirs(models: Path | None) -> dict[str, Path]:
    """The sentiment, intent and risk folders measured: the shipped ones, or those of a registry root."""
    root = models if models is not None else ARTIFACTS
    return {kind: root / kind for kind in ("sentiment", "intent", "risk")}


def text_scorer(models: Path | None):
    from callradar.models.text_scorer import TextScorer

    dirs = model_dirs(models)
    return TextScorer.load(sentiment_dir=dirs["sentiment"], intent_dir=dirs["intent"])


def seed_feature_cache(state: Path, files: dict[str, Path], embeddings: Path, models: Path | None = None) -> dict:
    """Compute the commands' feature cache in-process, the encoder's forward pass taken from ``embeddings``.

    ``embeddings`` holds texts.json (a list of texts) and embeddings.npy (their all-MiniLM-L6-v2
    embeddings, same order; loaded without pickle). Everything else is the commands' own path
    (TextScorer.score_batch with the shipped heads and rules, features_of, the same cache key), and
    a sample is encoded for real first and must match, so the commands then read exactly the
    features they would have computed: 33,000 utterances through the encoder take most of an hour
    on two busy cores.
    """
    import numpy as np

    from callradar.pipeline.settings import load_settings
    from callradar.training.features import feature_cache_dir, features_of
    from callradar.training.labelled_calls import read_calls

    os.environ["CALLRADAR_STATE_DIR"] = str(state)
    texts = json.loads((embeddings / "texts.json").read_text())
    table = dict(zip(texts, np.load(embeddings / "embeddings.npy", allow_pickle=False)))
    scorer = text_scorer(models)
    real = scorer.encoder.encode
    sample = random.Random(1).sample(sorted(table), 48)
    diff = float(np.abs(real(sample) - np.stack([table[t] for t in sample])).max())
    if diff > 1e-3:
        raise SystemExit(f"{embeddings}: the stored embeddings are not this encoder's (max difference {diff:.4f})")
    missing = []

    def encode(batch, batch_size=64, progress=None):
        todo = [t for t in batch if t not in table]
        missing.extend(todo)
        if todo:
            table.update(zip(todo, real(todo)))
        return np.stack([table[t] for t in batch]) if batch else real(batch)

    scorer.encoder.encode = encode
    for f in files.values():
        features_of(read_calls(f, labelled_only=True), scorer, False, feature_cache_dir(load_settings()))
    return {"sample_max_abs_difference": round(diff, 6), "texts_encoded_for_real": len(missing) + len(sample)}


def cross_corpus(state: Path, files: dict[str, Path], models: Path | None = None) -> dict:
    """ReDial -> CCPE with the code the commands run (fit_risk_model, evaluate_models), on the features
    the commands already computed (their feature cache): scoring 1,500 dialogues again would take as long."""
    from callradar.models.risk import RiskModel
    from callradar.pipeline.settings import load_settings
    from callradar.training.evaluate import evaluate_models, prior_model
    from callradar.training.features import feature_cache_dir, features_of
    from callradar.training.labelled_calls import read_calls
    from callradar.training.risk import fit_risk_model

    os.environ["CALLRADAR_STATE_DIR"] = str(state)
    cache = feature_cache_dir(load_settings())

    class CachedOnly:  # text models as the cache recorded them; scoring would mean the cache missed
        def __init__(self, card: dict):
            self.encoder = type("E", (), {"name": card["text_models"]["encoder"]})()
            self._models = card["text_models"]

        def score_batch(self, *a, **k):
            raise RuntimeError("feature cache miss: run the commands first with the same --state")

    card = json.loads((state.parent / "m-train" / "card.json").read_text()) if (state.parent / "m-train").exists() else None
    from callradar.training import features as tf

    scorer = CachedOnly(card)
    original = tf.text_models
    tf.text_models = lambda _s: scorer._models  # the cache key's text-model part, as the commands wrote it
    try:
        cfs = features_of(read_calls(files["train"]), scorer, False, cache) + features_of(read_calls(files["test"]),
                                                                                        scorer, False, cache)
    finally:
        tf.text_models = original
    redial = [cf for cf in cfs if cf.call.source == "ReDial"]
    ccpe = [cf for cf in cfs if cf.call.source == "CCPE"]
    model, _ = fit_risk_model(redial, prior=prior_model(), version="redial")
    shipped = RiskModel.load(model_dirs(models)["risk"])
    m = evaluate_models({"redial": model, "shipped": shipped, "prior": prior_model()}, ccpe, 0.6, 20.0)
    return {k: {"auroc": v["auroc"], "false_alarm_rate": v.get("false_alarm_rate")} for k, v in m.items()}


def real_calls(policy: str = "adaptive-4", models: Path | None = None) -> dict:
    """The two real calm calls' stored transcripts through the score stage and the triggers: alerts at 0.6,
    and how many customer utterances read as escalation intent (>= 0.5, keyword rules fused, as live)."""
    from callradar.agents.triggers import Triggers
    from callradar.models.risk import RiskModel
    from callradar.pipeline.records import Utterance
    from callradar.pipeline.settings import load_settings
    from callradar.pipeline.stages.score import ScoreProcessor

    texts = [t for t in json.loads((ROOT / "bench/results/transcription.json").read_text())["texts"] if t["set"] == "real"]
    processor = ScoreProcessor(text_scorer(models), RiskModel.load(model_dirs(models)["risk"]))
    triggers = Triggers(load_settings())
    out = {}
    for call in ("auto_repairs_40", "auto_repairs_49"):
        utts = []
        for speaker, channel in (("agent", "agent"), ("customer", "caller")):
            rows = sorted((t for t in texts if t["name"].startswith(f"{call}:{channel}:")),
                          key=lambda t: int(t["name"].split(":")[-1]))
            clock = 0.0 if speaker == "agent" else 1.5  # no start times stored: turns alternate, 3 s apart
            for t in rows:
                if (t[policy] or "").strip():
                    utts.append(Utterance(f"{call}/{speaker}/{t['name'].split(':')[-1]}", call, speaker,
                                          int(t["name"].split(":")[-1]), round(clock, 2),
                                          round(clock + t["duration_s"], 2), t[policy], 1.0, 0.0))
                clock += t["duration_s"] + 3.0
        alerts, peak, intent_hits = [], (0.0, ""), []
        for u in sorted(utts, key=lambda u: u.start):
            for s in processor.score([u], now=0.0):
                peak = max(peak, (s.risk, s.text))
                if s.speaker == "customer" and s.intent >= 0.5:
                    intent_hits.append({"text": s.text, "intent": round(s.intent, 3)})
                for alert in triggers.on_score(s.call_id, s.utterance_id, s.end, s.risk, s.reasons,
                                               [k["category"] for k in s.keywords], s.speaker, s.text, retrieve=False,
                                               intent=s.intent):
                    if alert["alert_type"] == "escalation_risk":
                        alerts.append({"text": s.text, "risk": s.risk, "message": alert["message"]})
        out[call] = {"utterances": len(utts), "alerts": alerts, "highest_risk": round(peak[0], 4),
                     "highest_risk_text": peak[1], "customer_intent_at_or_above_0.5": intent_hits}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None,
                    help="work folder to keep (feature cache, models, reports; never inside the repository); "
                         "default: a temporary one, deleted. Given again, the commands reuse its feature cache")
    ap.add_argument("--real-calls-only", action="store_true", help="only the two real calm calls (seconds)")
    ap.add_argument("--embeddings", type=Path, default=None,
                    help="folder with texts.json + embeddings.npy of these dialogues' utterances: the encoder's "
                         "forward pass is read from there (checked on a sample) instead of computed")
    ap.add_argument("--models", type=Path, default=None,
                    help="a model-registry root with sentiment/, intent/ and risk/ to measure instead of the shipped ones")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "satisfaction_check.json",
                    help="where the figures go (default %(default)s)")
    ap.add_argument("--text-part", choices=("auto", "on", "off"), default="auto",
                    help="passed to `callradar train risk` (its default: auto)")
    a = ap.parse_args()
    res = a.results
    if a.models is not None:
        missing = [str(d) for d in model_dirs(a.models).values() if not (d / "card.json").is_file()]
        if missing:
            raise SystemExit(f"--models {a.models}: no card.json in {', '.join(missing)}; it needs sentiment/, "
                             "intent/ and risk/ model folders")
    risk_dir = model_dirs(a.models)["risk"]
    if a.real_calls_only:
        doc = json.loads(res.read_text()) if res.exists() else {}
        doc["real_calls"] = real_calls(models=a.models)
        doc["shipped"] = json.loads((risk_dir / "card.json").read_text())["version"]
        res.write_text(json.dumps(doc, indent=2) + "\n")
        print(json.dumps(doc["real_calls"], indent=2))
        return
    if a.work is not None and ROOT in a.work.resolve().parents:
        raise SystemExit("--work must be outside the repository: nothing trained on this data may land in it")
    rng = random.Random(a.seed)
    by_source = {}
    for name in ("ReDial", "CCPE"):
        by_source[name] = [as_call(d, f"{name}-{i}", name) for i, d in enumerate(dialogues(a.data, name))]
    train, test = [], []
    for calls in by_source.values():
        calls = calls[:]
        rng.shuffle(calls)
        cut = round(len(calls) * 2 / 3)
        train += calls[:cut]
        test += calls[cut:]
    tmp = a.work or Path(tempfile.mkdtemp(prefix="callradar-satisfaction-"))
    tmp.mkdir(parents=True, exist_ok=True)
    state = tmp / "state"
    env = {**os.environ, "CALLRADAR_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    if a.models is not None:
        env["CALLRADAR_MODELS_DIR"] = str(a.models.resolve())
    out: dict = {"data": str(a.data), "seed": a.seed, "calls": {"train": len(train), "test": len(test)},
                 "dissatisfied": {"train": sum(c["outcome"] == "escalated" for c in train),
                                  "test": sum(c["outcome"] == "escalated" for c in test)},
                 "shipped": json.loads((risk_dir / "card.json").read_text())["version"], "seconds": {},
                 "models": str(a.models) if a.models is not None else "models/artifacts"}
    try:
        files = {"train": write(tmp / "train.jsonl", train), "test": write(tmp / "test.jsonl", test)}
        for old in ("m-train", "r-train-test", "r-shipped-test"):  # a reused --work: only its feature cache stays
            shutil.rmtree(tmp / old, ignore_errors=True)
        s = out["seconds"]
        if a.embeddings is not None:
            t0 = time.monotonic()
            out["embeddings_from"] = {"folder": str(a.embeddings),
                                      **seed_feature_cache(state, files, a.embeddings, a.models)}
            s["features, embeddings read"] = time.monotonic() - t0
        s["train 1000"] = run(["train", "risk", "--data", str(files["train"]), "--test", str(files["test"]), "--out",
                               str(tmp / "m-train"), "--no-register", "--curve-seeds", "0", "--text-part", a.text_part],
                              env)
        s["evaluate retrained, test"] = run(["evaluate", "--model", str(tmp / "m-train"), "--data",
                                             str(files["test"]), "--report", str(tmp / "r-train-test")], env)
        out["retrained_test"] = figures(tmp / "r-train-test", "model")
        out["prior_test"] = figures(tmp / "r-train-test", "baseline")
        s["evaluate shipped, test"] = run(["evaluate", "--model", str(risk_dir), "--data", str(files["test"]),
                                           "--report", str(tmp / "r-shipped-test")], env)
        out["shipped_test"] = figures(tmp / "r-shipped-test", "model")
        card = json.loads((tmp / "m-train" / "card.json").read_text())
        out["retrained_card"] = {k: card["params"].get(k) for k in ("C", "dropped_wrong_sign", "class_weight")}
        out["redial_to_ccpe"] = cross_corpus(state, files, a.models)
        out["real_calls"] = real_calls(models=a.models)
    finally:
        if a.work is None:
            shutil.rmtree(tmp, ignore_errors=True)
        res.write_text(json.dumps(out, indent=2) + "\n")
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
