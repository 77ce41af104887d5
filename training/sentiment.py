"""Train the sentiment and frustration heads on GoEmotions; write models/artifacts/sentiment/.

    python -m training.sentiment [--data ../shared/data] [--out models/artifacts/sentiment] [--max-train 20000]

By default 20,000 of the 43,410 train rows are used (seeded): embedding all of
them takes about 15 minutes on 2 busy cores and gains little (the head is linear).

Labels (decisions, also written to the model card):
- 28 emotions -> the paper's groups; "ambiguous" (confusion, curiosity, realization,
  surprise) counts as neutral: in calls these are mostly questions and
  clarifications, which are not polar, and every test row stays in the metric.
- training rows with several emotions: a polar group wins over neutral; rows
  that are both positive and negative are dropped (about 2 %).
- the reported metric is 3-class macro-F1 on test rows with exactly one emotion.
- frustration: P(any of anger, annoyance, disapproval, disgust), trained on all rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from models.types import SENTIMENT_LABELS
from training import data as D

AMBIGUOUS_AS = "neutral"
C_GRID = (0.5, 2.0, 8.0)


def group_of(emotion: str) -> str:
    for group, members in D.GOEMOTIONS_GROUPS.items():
        if emotion in members:
            return AMBIGUOUS_AS if group == "ambiguous" else group
    raise ValueError(f"unknown emotion {emotion!r}")


def reduce_labels(emotions: list[str]) -> str | None:
    """Multi-label row -> one sentiment, or None when positive and negative conflict."""
    groups = {group_of(e) for e in emotions}
    if len(groups) > 1:
        groups.discard("neutral")
    return groups.pop() if len(groups) == 1 else None


def single_label(emotions: list[str]) -> str | None:
    return group_of(emotions[0]) if len(emotions) == 1 else None


def frustrated(emotions: list[str]) -> int:
    return int(any(e in D.FRUSTRATION_EMOTIONS for e in emotions))


def _fit(x, y, C, class_weight, seed):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, class_weight=class_weight, max_iter=2000, random_state=seed).fit(x, y)


def train(
    data_dir: Path, out_dir: Path, max_train: int | None = None, seed: int = 0, encoder_name: str = "all-MiniLM-L6-v2"
) -> dict:
    from sklearn.metrics import (
        average_precision_score,
        classification_report,
        confusion_matrix,
        f1_score,
        roc_auc_score,
    )

    from models.encoder import encoder_fingerprint, load_encoder
    from models.sentiment import LinearHead, save_heads

    t0 = time.monotonic()
    splits = {s: D.load_goemotions(data_dir, s) for s in ("train", "dev", "test")}
    train_split = splits["train"]
    idx = np.arange(len(train_split.texts))
    if max_train and max_train < len(idx):
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_train, replace=False))
        print(f"subsampled GoEmotions train to {max_train} rows", file=sys.stderr)
    encoder = load_encoder(encoder_name)
    emb = {
        "train": D.embed_cached(encoder, [train_split.texts[i] for i in idx], "goemotions-train"),
        "dev": D.embed_cached(encoder, splits["dev"].texts, "goemotions-dev"),
        "test": D.embed_cached(encoder, splits["test"].texts, "goemotions-test"),
    }
    train_emotions = [train_split.emotions[i] for i in idx]

    y_train = [reduce_labels(e) for e in train_emotions]
    keep = np.array([y is not None for y in y_train])
    x_tr, y_tr = emb["train"][keep], np.array([y for y in y_train if y is not None])
    print(
        f"train rows: {keep.sum()} of {len(keep)} (dropped {len(keep) - keep.sum()} pos+neg conflicts)", file=sys.stderr
    )

    def single(split):
        y = [single_label(e) for e in splits[split].emotions]
        m = np.array([v is not None for v in y])
        return emb[split][m], np.array([v for v in y if v is not None])

    x_dev, y_dev = single("dev")
    results = {}
    for cw in (None, "balanced"):
        for C in C_GRID:
            results[(C, cw)] = f1_score(y_dev, _fit(x_tr, y_tr, C, cw, seed).predict(x_dev), average="macro")
            print(f"  C={C:<4} class_weight={cw}: dev macro-F1 {results[(C, cw)]:.4f}", file=sys.stderr)
    # Strongest regularisation within 0.002 of the best dev score: ties go to what generalises.
    top = max(results.values())
    C, cw = min((k for k, v in results.items() if v >= top - 0.002), key=lambda k: (k[0], k[1] is not None))
    dev_f1 = results[(C, cw)]
    clf = _fit(x_tr, y_tr, C, cw, seed)
    print(f"chosen C={C} class_weight={cw} (dev macro-F1 {dev_f1:.4f})", file=sys.stderr)

    y_frus = np.array([frustrated(e) for e in train_emotions])
    frus = _fit(emb["train"], y_frus, 1.0, None, seed)

    # The saved heads reorder classes to SENTIMENT_LABELS so the file reads the same way.
    order = [list(clf.classes_).index(c) for c in SENTIMENT_LABELS]
    sent_head = LinearHead(
        clf.coef_[order].astype(np.float32), clf.intercept_[order].astype(np.float32), list(SENTIMENT_LABELS), "softmax"
    )
    frus_head = LinearHead.from_sklearn(frus, "sigmoid", ["frustration"])

    x_te, y_te = single("test")
    pred = np.array(SENTIMENT_LABELS)[sent_head(x_te).argmax(1)]
    test_f1 = f1_score(y_te, pred, average="macro")
    report = classification_report(y_te, pred, labels=list(SENTIMENT_LABELS), output_dict=True, zero_division=0)
    cm = confusion_matrix(y_te, pred, labels=list(SENTIMENT_LABELS)).tolist()
    polar = np.array([len(e) == 1 and e[0] not in D.GOEMOTIONS_GROUPS["ambiguous"] for e in splits["test"].emotions])
    polar_single = polar[[len(e) == 1 for e in splits["test"].emotions]]
    test_f1_no_amb = f1_score(y_te[polar_single], pred[polar_single], average="macro")
    y_frus_te = np.array([frustrated(e) for e in splits["test"].emotions])
    p_frus_te = frus_head(emb["test"])

    metrics = {
        "test_macro_f1": round(float(test_f1), 4),
        "test_rows": int(len(y_te)),
        "test_accuracy": round(float(report["accuracy"]), 4),
        "test_per_class_f1": {c: round(report[c]["f1-score"], 4) for c in SENTIMENT_LABELS},
        "test_confusion_matrix": {"labels": list(SENTIMENT_LABELS), "rows_true_cols_pred": cm},
        "test_macro_f1_without_ambiguous_rows": round(float(test_f1_no_amb), 4),
        "dev_macro_f1": round(float(dev_f1), 4),
        "frustration_test_auroc": round(float(roc_auc_score(y_frus_te, p_frus_te)), 4),
        "frustration_test_average_precision": round(float(average_precision_score(y_frus_te, p_frus_te)), 4),
    }
    card = {
        "name": "callradar-sentiment",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "encoder": encoder_fingerprint(encoder),
        "data": {
            "source": "GoEmotions (Demszky et al. 2020), Apache-2.0",
            "sha256": D.sha256_files(D.goemotions_files(data_dir)),
            "train_rows_used": int(keep.sum()),
            "train_subsample": max_train if max_train and max_train < len(train_split.texts) else None,
            "train_rows_available": len(train_split.texts),
        },
        "labels": {
            "grouping": {g: m for g, m in D.GOEMOTIONS_GROUPS.items()},
            "ambiguous_as": AMBIGUOUS_AS,
            "multi_label_training_rule": "polar group wins over neutral; positive+negative rows dropped",
            "evaluation_rows": "test rows with exactly one emotion",
            "frustration_emotions": list(D.FRUSTRATION_EMOTIONS),
        },
        "params": {
            "sentiment": {
                "model": "LogisticRegression (multinomial, lbfgs)",
                "C": C,
                "class_weight": cw,
                "grid": {"C": list(C_GRID), "class_weight": [None, "balanced"]},
                "selected_on": "smallest C within 0.002 of the best dev macro-F1 (single-label rows)",
                "dev_macro_f1_grid": {f"C={k[0]},class_weight={k[1]}": round(v, 4) for k, v in results.items()},
            },
            "frustration": {"model": "LogisticRegression (binary)", "C": 1.0, "class_weight": None},
            "seed": seed,
        },
        "metrics": metrics,
        "train_seconds": round(time.monotonic() - t0, 1),
    }
    save_heads(out_dir, "sentiment", {"sentiment": sent_head, "frustration": frus_head}, card)
    (out_dir / "model_card.md").write_text(model_card_md(card))
    return card


def model_card_md(card: dict) -> str:
    m, p, lab = card["metrics"], card["params"], card["labels"]
    cm = m["test_confusion_matrix"]["rows_true_cols_pred"]
    rows = "\n".join(f"| {lbl} | " + " | ".join(str(v) for v in r) + " |" for lbl, r in zip(SENTIMENT_LABELS, cm))
    return f"""# Sentiment and frustration heads

Logistic-regression heads on {card["encoder"]["model"]} sentence embeddings
({card["encoder"]["dim"]}-d, mean pooled, L2-normalised). Weights: `heads.safetensors`
(sha256 in `card.json`); no pickle anywhere.

## What they predict
- `sentiment`: negative / neutral / positive, probabilities summing to 1.
- `frustration`: P(the text expresses {", ".join(lab["frustration_emotions"])}), 0..1.

## Data
GoEmotions train split ({card["data"]["train_rows_used"]} rows used), sha256 `{card["data"]["sha256"][:16]}...`.
Subsample: {f"{card['data']['train_subsample']} of {card['data']['train_rows_available']} rows, uniformly at random (seed {card['params']['seed']}), to keep embedding time down on 2 shared cores" if card["data"]["train_subsample"] else "none, the full train split"}.
- Grouping: the paper's positive / negative groups; neutral = neutral + the
  paper's ambiguous group (confusion, curiosity, realization, surprise), because in
  calls these are mostly questions and clarifications, not polar statements.
- Multi-label training rows: {lab["multi_label_training_rule"]}.
- Frustration is trained on every train row (positive when any of its emotions is one of the four).

## Parameters
Sentiment: C={p["sentiment"]["C"]}, class_weight={p["sentiment"]["class_weight"]}: the strongest
regularisation within 0.002 of the best dev macro-F1 over C in {p["sentiment"]["grid"]["C"]} x
class_weight in {{None, balanced}} ({p["sentiment"]["dev_macro_f1_grid"]}).
Frustration: C=1.0, unweighted (so its output stays a calibrated-ish probability).

## Metrics (GoEmotions test split)
| metric | value |
| --- | --- |
| 3-class macro-F1, single-label rows (n={m["test_rows"]}) | **{m["test_macro_f1"]}** |
| accuracy, same rows | {m["test_accuracy"]} |
| F1 negative / neutral / positive | {m["test_per_class_f1"]["negative"]} / {m["test_per_class_f1"]["neutral"]} / {m["test_per_class_f1"]["positive"]} |
| macro-F1 without ambiguous rows | {m["test_macro_f1_without_ambiguous_rows"]} |
| dev macro-F1 (model selection) | {m["dev_macro_f1"]} |
| frustration AUROC / average precision (all test rows) | {m["frustration_test_auroc"]} / {m["frustration_test_average_precision"]} |

Confusion matrix (rows true, columns predicted: {", ".join(SENTIMENT_LABELS)}):

| true | {" | ".join(SENTIMENT_LABELS)} |
| --- | --- | --- | --- |
{rows}

## Limits
Reddit comments are not phone calls: sarcasm, ASR errors and call-centre politeness
("I'm sorry to hear that") are under-represented. Negative is the weakest class: it is
mostly confused with neutral (mild complaints read as neutral).
Retrain with `python -m training.sentiment`.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=D.default_data_dir(), help="the shared data folder")
    ap.add_argument("--out", type=Path, default=D.REPO_ROOT / "models" / "artifacts" / "sentiment")
    ap.add_argument(
        "--max-train", type=int, default=20000, help="subsample GoEmotions train for speed (0: all 43k rows)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    args = ap.parse_args(argv)
    if not (args.data / "sentiment" / "goemotions" / "train.tsv").exists():
        print(f"no GoEmotions under {args.data}/sentiment/goemotions (pass --data)", file=sys.stderr)
        return 2
    card = train(args.data, args.out, args.max_train, args.seed, args.encoder)
    print(
        f"wrote {args.out}: test macro-F1 {card['metrics']['test_macro_f1']}, "
        f"frustration AUROC {card['metrics']['frustration_test_auroc']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
