"""Train the sentiment and frustration heads on GoEmotions; write models/artifacts/sentiment/.

    python -m training.sentiment [--data ../shared/data] [--out models/artifacts/sentiment] [--max-train 0]

By default all 43,410 train rows are used (embeddings are cached under
.callradar/embedding-cache; the first run embeds them, about 15 minutes on 2 busy
cores). ``--max-train N`` subsamples N rows (seeded) for a quick run.

Features: the sentence embedding, optionally plus VADER's four scores of the
text (``models.sentiment.vader_features``: lower-cased, punctuation stripped, so
typed text and ASR output read alike). Whether to add them, C and class weighting
are chosen on the dev split; the test split is scored once, after the choice.

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
FEATURE_SETS = ("embedding", "embedding+vader")
CALL_STYLE_SET = D.REPO_ROOT / "tests" / "fixtures" / "call_style_sentiment.jsonl"


def load_call_style(path: Path = CALL_STYLE_SET) -> tuple[list[str], np.ndarray]:
    """The hand-written call-style check set (never trained or tuned on): texts and labels."""
    import json

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["text"] for r in rows], np.array([r["label"] for r in rows])


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
    from models.sentiment import VADER_FEATURES, LinearHead, save_heads, vader_features

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
    texts_tr = [train_split.texts[i] for i, k in zip(idx, keep) if k]
    print(
        f"train rows: {keep.sum()} of {len(keep)} (dropped {len(keep) - keep.sum()} pos+neg conflicts)", file=sys.stderr
    )

    def single(split):
        y = [single_label(e) for e in splits[split].emotions]
        m = np.array([v is not None for v in y])
        return emb[split][m], np.array([v for v in y if v is not None]), [t for t, k in zip(splits[split].texts, m) if k]

    def with_features(x, texts, features):
        return np.hstack([x, vader_features(texts)]) if features == "embedding+vader" else x

    x_dev, y_dev, texts_dev = single("dev")
    results = {}
    for features in FEATURE_SETS:
        xf_tr, xf_dev = with_features(x_tr, texts_tr, features), with_features(x_dev, texts_dev, features)
        for cw in (None, "balanced"):
            for C in C_GRID:
                key = (features, C, cw)
                results[key] = f1_score(y_dev, _fit(xf_tr, y_tr, C, cw, seed).predict(xf_dev), average="macro")
                print(f"  {features} C={C:<4} class_weight={cw}: dev macro-F1 {results[key]:.4f}", file=sys.stderr)
    # Within 0.002 of the best dev score, prefer fewer inputs, then stronger regularisation, then no weighting:
    # ties go to what generalises.
    top = max(results.values())
    features, C, cw = min(
        (k for k, v in results.items() if v >= top - 0.002),
        key=lambda k: (FEATURE_SETS.index(k[0]), k[1], k[2] is not None),
    )
    dev_f1 = results[(features, C, cw)]
    extra = list(VADER_FEATURES) if features == "embedding+vader" else []
    clf = _fit(with_features(x_tr, texts_tr, features), y_tr, C, cw, seed)
    print(f"chosen {features} C={C} class_weight={cw} (dev macro-F1 {dev_f1:.4f})", file=sys.stderr)

    y_frus = np.array([frustrated(e) for e in train_emotions])
    frus = _fit(emb["train"], y_frus, 1.0, None, seed)

    # The saved heads reorder classes to SENTIMENT_LABELS so the file reads the same way.
    order = [list(clf.classes_).index(c) for c in SENTIMENT_LABELS]
    sent_head = LinearHead(
        clf.coef_[order].astype(np.float32),
        clf.intercept_[order].astype(np.float32),
        list(SENTIMENT_LABELS),
        "softmax",
        extra,
    )
    frus_head = LinearHead.from_sklearn(frus, "sigmoid", ["frustration"])

    x_te, y_te, texts_te = single("test")
    pred = np.array(SENTIMENT_LABELS)[sent_head(sent_head.inputs(x_te, texts_te)).argmax(1)]
    test_f1 = f1_score(y_te, pred, average="macro")
    report = classification_report(y_te, pred, labels=list(SENTIMENT_LABELS), output_dict=True, zero_division=0)
    cm = confusion_matrix(y_te, pred, labels=list(SENTIMENT_LABELS)).tolist()
    polar = np.array([len(e) == 1 and e[0] not in D.GOEMOTIONS_GROUPS["ambiguous"] for e in splits["test"].emotions])
    polar_single = polar[[len(e) == 1 for e in splits["test"].emotions]]
    test_f1_no_amb = f1_score(y_te[polar_single], pred[polar_single], average="macro")
    y_frus_te = np.array([frustrated(e) for e in splits["test"].emotions])
    p_frus_te = frus_head(emb["test"])

    # The call-style check set: written by hand, contact-centre utterances in ASR style; never used to choose.
    call_texts, call_y = load_call_style()
    call_x = encoder.encode(call_texts)
    call_pred = np.array(SENTIMENT_LABELS)[sent_head(sent_head.inputs(call_x, call_texts)).argmax(1)]
    call_f1 = f1_score(call_y, call_pred, average="macro")

    metrics = {
        "test_macro_f1": round(float(test_f1), 4),
        "test_rows": int(len(y_te)),
        "test_accuracy": round(float(report["accuracy"]), 4),
        "test_per_class_f1": {c: round(report[c]["f1-score"], 4) for c in SENTIMENT_LABELS},
        "test_confusion_matrix": {"labels": list(SENTIMENT_LABELS), "rows_true_cols_pred": cm},
        "test_macro_f1_without_ambiguous_rows": round(float(test_f1_no_amb), 4),
        "dev_macro_f1": round(float(dev_f1), 4),
        "call_style_macro_f1": round(float(call_f1), 4),
        "call_style_rows": len(call_texts),
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
                "features": features,
                "extra_features": extra,
                "C": C,
                "class_weight": cw,
                "grid": {"features": list(FEATURE_SETS), "C": list(C_GRID), "class_weight": [None, "balanced"]},
                "selected_on": "within 0.002 of the best dev macro-F1 (single-label rows): fewer inputs, "
                "then smallest C, then no class weighting",
                "dev_macro_f1_grid": {
                    f"{k[0]},C={k[1]},class_weight={k[2]}": round(v, 4) for k, v in results.items()
                },
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
    vader = bool(p["sentiment"].get("extra_features"))
    inputs = (
        "plus VADER's neg / neu / pos / compound scores of the text (lower-cased and stripped of "
        "punctuation first, so typed text and ASR output read alike; `vaderSentiment` is a runtime "
        "dependency)" if vader else "only"
    )
    return f"""# Sentiment and frustration heads

Logistic-regression heads on {card["encoder"]["model"]} sentence embeddings
({card["encoder"]["dim"]}-d, mean pooled, L2-normalised). The sentiment head reads the embedding
{inputs}; the frustration head reads the embedding only. Weights: `heads.safetensors`
(sha256 in `card.json`; columns after the embedding's are the card's `extra_features`); no pickle anywhere.

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
Sentiment: features={p["sentiment"].get("features", "embedding")}, C={p["sentiment"]["C"]},
class_weight={p["sentiment"]["class_weight"]}, chosen on the dev split ({p["sentiment"]["selected_on"]})
over features in {p["sentiment"]["grid"].get("features", ["embedding"])} x C in {p["sentiment"]["grid"]["C"]} x
class_weight in {{None, balanced}}. Dev macro-F1 per setting: {p["sentiment"]["dev_macro_f1_grid"]}.
Frustration: C=1.0, unweighted (so its output stays a calibrated-ish probability).

## Metrics (GoEmotions test split)
| metric | value |
| --- | --- |
| 3-class macro-F1, single-label rows (n={m["test_rows"]}) | **{m["test_macro_f1"]}** |
| accuracy, same rows | {m["test_accuracy"]} |
| F1 negative / neutral / positive | {m["test_per_class_f1"]["negative"]} / {m["test_per_class_f1"]["neutral"]} / {m["test_per_class_f1"]["positive"]} |
| macro-F1 without ambiguous rows | {m["test_macro_f1_without_ambiguous_rows"]} |
| dev macro-F1 (model selection) | {m["dev_macro_f1"]} |
| call-style check set, macro-F1 ({m.get("call_style_rows", "?")} hand-written contact-centre utterances, ASR style; never trained or tuned on) | {m.get("call_style_macro_f1", "?")} |
| frustration AUROC / average precision (all test rows) | {m["frustration_test_auroc"]} / {m["frustration_test_average_precision"]} |

Confusion matrix (rows true, columns predicted: {", ".join(SENTIMENT_LABELS)}):

| true | {" | ".join(SENTIMENT_LABELS)} |
| --- | --- | --- | --- |
{rows}

The call-style set is `tests/fixtures/call_style_sentiment.jsonl` (labels and the rules behind them
in `tests/fixtures/call_style_sentiment.md`): an agent's apology or empathy ("i'm sorry for the
trouble") counts as neutral, a customer's complaint as negative, thanks and relief as positive.
With 60 rows, one utterance moves its macro-F1 by about 0.02.

## Limits
Reddit comments are not phone calls: sarcasm, ASR errors and call-centre politeness
("I'm sorry to hear that") are under-represented. Negative is the weakest class: it is
mostly confused with neutral (mild complaints read as neutral). VADER's lexicon does not
know phrases such as "fed up"; it knows "sorry" and "trouble" as negative words.
Retrain with `python -m training.sentiment`.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=D.default_data_dir(), help="the shared data folder")
    ap.add_argument("--out", type=Path, default=D.REPO_ROOT / "models" / "artifacts" / "sentiment")
    ap.add_argument(
        "--max-train", type=int, default=0, help="subsample GoEmotions train for speed (default 0: all 43k rows)"
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
