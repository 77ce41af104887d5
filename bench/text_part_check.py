"""The risk model's text part (issue 14): does learning what the words say help, and does auto choose well?

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/text_part_check.py \\
        [--data ../shared/data/dialogues/satisfaction] [--embeddings /tmp/sat_emb] [--work DIR] [--skip-corpus]

Fits exactly what ``callradar train risk --text-part off|on|auto`` fits (fit_risk_model,
choose_text_part; default features, 20 s horizon, balanced classes, Platt), on:

1. the satisfaction dialogues as "a user's labelled calls" (MEASUREMENT ONLY: no model is
   written anywhere, the results hold figures only; the work folder must be outside the
   repository): train ReDial (1,000) -> test CCPE (500), and within each source a seeded 2:1
   split; labels and synthetic timing as bench/satisfaction_check.py makes them;
2. the semi-synthetic corpus the bundled model is trained on (<state dir>/corpus): its
   train -> test files, and leave one source out (bitext-synthetic, simulator-asr);
3. the two real calm calls (stored transcripts, bench/satisfaction_check.py ``real_calls``) with
   the model auto chooses on the corpus, and with the text part forced on: alerts at 0.6.

Call AUROC both as the highest risk over the call (what the live alert acts on) and at the end
of the call. ``--embeddings``: the dialogues' all-MiniLM-L6-v2 embeddings (texts.json +
embeddings.npy, checked on a sample), instead of an hour of encoding on two busy cores.
Writes bench/results/text_part_check.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODES = ("off", "on", "auto")


def scorer_with_stored_embeddings(embeddings: Path | None):
    """The shipped TextScorer; with ``embeddings``, its encoder's forward pass read from there (sample checked)."""
    from callradar.models.text_scorer import TextScorer

    scorer = TextScorer.load()
    if embeddings is None:
        return scorer, None
    texts = json.loads((embeddings / "texts.json").read_text())
    table = dict(zip(texts, np.load(embeddings / "embeddings.npy", allow_pickle=False)))
    real = scorer.encoder.encode
    sample = random.Random(1).sample(sorted(table), 48)
    diff = float(np.abs(real(sample) - np.stack([table[t] for t in sample])).max())
    if diff > 1e-3:
        raise SystemExit(f"{embeddings}: the stored embeddings are not this encoder's (max difference {diff:.4f})")

    def encode(batch, batch_size=64, progress=None):
        todo = [t for t in batch if t not in table]
        if todo:
            table.update(zip(todo, real(todo)))
        return np.stack([table[t] for t in batch]) if batch else real(batch)

    scorer.encoder.encode = encode
    return scorer, round(diff, 6)


def run_modes(train, test, log, name: str) -> dict:
    """off / on fitted and measured on ``test``; auto's choice (its CV) and which of the two it is."""
    from callradar.training.evaluate import prior_model
    from callradar.training.risk import _quiet_fit, call_risk_aurocs, choose_text_part

    kwargs = {"prior": prior_model(), "class_weight": "balanced", "encoder": "all-MiniLM-L6-v2"}
    out = {"train_calls": len(train), "train_escalated": sum(cf.call.outcome == "escalated" for cf in train),
           "test_calls": len(test), "test_escalated": sum(cf.call.outcome == "escalated" for cf in test)}
    for mode in ("off", "on"):
        t0 = time.monotonic()
        model = _quiet_fit(train, seed=0, text_part=mode == "on", **kwargs)
        out[mode] = {**call_risk_aurocs(model, test), "fit_seconds": round(time.monotonic() - t0, 1)}
        out[mode]["text_weight"] = (dict(zip(model.feature_names, model.coef)).get("words_like_escalated")
                                    if mode == "on" else None)
        log(f"{name}: {mode}: {out[mode]}")
    t0 = time.monotonic()
    choice = choose_text_part(train, "auto", seed=0, fit_kwargs=kwargs)
    out["auto"] = {"chosen": "on" if choice["chosen"] else "off", "why": choice["why"], "cv": choice.get("cv"),
                   "seconds": round(time.monotonic() - t0, 1),
                   **{k: out["on" if choice["chosen"] else "off"][k] for k in ("auroc", "auroc_end_of_call")}}
    log(f"{name}: auto: {out['auto']}")
    return out


def satisfaction(data: Path, embeddings: Path | None, work: Path, log) -> dict:
    from bench.satisfaction_check import as_call, dialogues
    from callradar.training.features import features_of
    from callradar.training.labelled_calls import read_calls

    by_source = {name: [as_call(d, f"{name}-{i}", name) for i, d in enumerate(dialogues(data, name))]
                 for name in ("ReDial", "CCPE")}
    path = work / "dialogues.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for calls in by_source.values() for c in calls))
    scorer, diff = scorer_with_stored_embeddings(embeddings)
    t0 = time.monotonic()
    cfs = features_of(read_calls(path, labelled_only=True), scorer, False, work / "cache")
    log(f"dialogue features: {time.monotonic() - t0:.0f} s")
    src = {name: [cf for cf in cfs if cf.call.source == name] for name in by_source}
    out = {"embeddings_sample_max_abs_difference": diff,
           "ReDial -> CCPE": run_modes(src["ReDial"], src["CCPE"], log, "ReDial -> CCPE")}
    for name, group in src.items():  # within a source: seeded 2:1, stratified by outcome
        rng = random.Random(0)
        train, test = [], []
        for outcome in ("escalated", "calm"):
            part = [cf for cf in group if cf.call.outcome == outcome]
            rng.shuffle(part)
            cut = round(len(part) * 2 / 3)
            train += part[:cut]
            test += part[cut:]
        out[f"{name} 2:1"] = run_modes(train, test, log, f"{name} 2:1")
    return out


def corpus(log, measure: bool = True) -> tuple[dict, dict]:
    from callradar.pipeline.settings import load_settings
    from callradar.pipeline.stages.score import load_models
    from callradar.training.evaluate import prior_model
    from callradar.training.features import feature_cache_dir, features_of
    from callradar.training.labelled_calls import read_calls
    from callradar.training.risk import _quiet_fit

    settings = load_settings()
    scorer = load_models(settings).text_scorer
    folder = settings.state_dir / "corpus"
    t0 = time.monotonic()
    train = features_of(read_calls(folder / "train.parquet", labelled_only=True), scorer, True, feature_cache_dir(settings))
    test = features_of(read_calls(folder / "test.parquet", labelled_only=True), scorer, True, feature_cache_dir(settings))
    log(f"corpus features: {time.monotonic() - t0:.0f} s")
    out = {"train -> test": run_modes(train, test, log, "corpus")} if measure else {}
    everything = train + test
    for source in sorted({cf.call.source for cf in everything}) if measure else ():
        rest = [cf for cf in everything if cf.call.source != source]
        held = [cf for cf in everything if cf.call.source == source]
        out[f"without {source} -> {source}"] = run_modes(rest, held, log, f"LOSO {source}")
    kwargs = {"prior": prior_model(), "class_weight": "balanced", "encoder": "all-MiniLM-L6-v2"}
    auto = False  # `callradar train risk` on a corpus file: auto says no (choose_text_part's corpus rule)
    models = {"auto": _quiet_fit(train, seed=0, text_part=auto, version="corpus-auto", **kwargs),
              "on": _quiet_fit(train, seed=0, text_part=True, version="corpus-on", **kwargs)}
    return out, models


def real_calls_with(models: dict, work: Path) -> dict:
    """bench/satisfaction_check.py's real_calls (score stage + triggers) with each model in place of the shipped one."""
    import bench.satisfaction_check as sc

    out = {}
    for name, model in models.items():
        root = work / f"real-{name}"  # the shipped heads, this risk model
        for kind, folder in sc.model_dirs(None).items():
            if kind != "risk" and not (root / kind).exists():
                root.mkdir(parents=True, exist_ok=True)
                (root / kind).symlink_to(folder)
        model.save(root / "risk")
        out[name] = {"text_part": model.text_part is not None, **sc.real_calls(models=root)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "dialogues" / "satisfaction")
    ap.add_argument("--embeddings", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None, help="work folder outside the repository (default: temporary)")
    ap.add_argument("--skip-corpus", action="store_true")
    ap.add_argument("--skip-dialogues", action="store_true")
    ap.add_argument("--real-calls-only", action="store_true", help="only the corpus models on the two real calm calls")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="callradar-text-part-"))
    if ROOT in work.resolve().parents:
        raise SystemExit("--work must be outside the repository: nothing trained on the dialogues may land in it")
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()

    def log(line: str) -> None:
        print(f"[{time.monotonic() - t_start:6.0f} s] {line}", file=sys.stderr, flush=True)

    res_path = ROOT / "bench" / "results" / "text_part_check.json"
    out = json.loads(res_path.read_text()) if res_path.exists() else {}
    out.setdefault("commands", []).append("python bench/text_part_check.py " + " ".join(sys.argv[1:]))
    import os

    out["load_average_at_start"] = os.getloadavg()
    if not a.skip_dialogues:
        out["satisfaction_dialogues"] = satisfaction(a.data, a.embeddings, work, log)
        res_path.write_text(json.dumps(out, indent=2) + "\n")
    if a.real_calls_only:
        out["real_calm_calls"] = real_calls_with(corpus(log, measure=False)[1], work)
    elif not a.skip_corpus:
        out["corpus"], models = corpus(log)
        res_path.write_text(json.dumps(out, indent=2) + "\n")
        out["real_calm_calls"] = real_calls_with(models, work)
    out["seconds"] = round(time.monotonic() - t_start)
    res_path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
