"""The bundled sentiment head of session 9: the average of two heads' logits, as one head file.

The shipped head of 2026-11-22 (a network trained on all of GoEmotions) is the best in its own domain
(Reddit comments) and below VADER off it; the mixed-source head of `callradar train sentiment`
(GoEmotions + the call-style set, half speech-style, logistic regression) is near VADER off-domain and
lower on Reddit. Their plain average (weight 0.5, not tuned) keeps most of each
(docs/benchmarks.md, "Text heads across domains"). It is stored in the existing head format, so
nothing in the score stage changes: a logistic regression ``W x + b`` equals a ReLU layer with units
``x`` and ``-x`` and output weights ``W`` and ``-W`` (relu(x) - relu(-x) = x), so

    hidden = [old hidden units; identity; -identity],  coef = [w_old * W_old, w_new * W, -w_new * W]

gives exactly ``w_old * logits_old + w_new * logits_new``. The frustration head is the old one.

    .venv/bin/python bench/research/issue14/h4_average.py --old models/artifacts/sentiment \\
        --new /tmp/h4gate/new/sentiment --out /tmp/h4gate/avg-head/sentiment --vader /tmp/exp14/data/vader_gt
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from callradar.models.sentiment import LinearHead, SentimentModel, save_heads


def averaged(old: LinearHead, new: LinearHead, w_new: float, x: np.ndarray) -> LinearHead:
    """One ReLU-network head whose logits are (1 - w_new) * old's + w_new * new's.

    The old head is a one-hidden-layer network; the new one is linear (its ``x`` and ``-x`` become ReLU
    units, as above) or a network too (its hidden units sit beside the old ones, session 12). ``x``: real input
    rows to check the folded head on (random rows give the networks logits in the thousands, where float32
    rounding alone exceeds any tolerance)."""
    if old.hidden_coef is None:
        raise SystemExit("expects the old head to be a one-hidden-layer network")
    if old.extra_features != new.extra_features or old.classes != new.classes:
        raise SystemExit(f"heads read different inputs or classes: {old.extra_features} / {new.extra_features}")
    dim = old.hidden_coef.shape[1]
    if new.hidden_coef is None:
        eye = np.eye(dim, dtype=np.float32)
        new_hidden, new_intercept = np.vstack([eye, -eye]), np.zeros(2 * dim, np.float32)
        new_coef = np.hstack([new.coef, -new.coef])
    else:
        new_hidden, new_intercept, new_coef = new.hidden_coef, new.hidden_intercept, new.coef
    head = LinearHead(
        coef=np.hstack([(1 - w_new) * old.coef, w_new * new_coef]),
        intercept=(1 - w_new) * old.intercept + w_new * new.intercept,
        classes=list(old.classes), activation="softmax", extra_features=list(old.extra_features),
        hidden_coef=np.vstack([old.hidden_coef, new_hidden]),
        hidden_intercept=np.concatenate([old.hidden_intercept, new_intercept]),
    )
    want = (1 - w_new) * np.log(np.clip(old(x), 1e-30, 1)) + w_new * np.log(np.clip(new(x), 1e-30, 1))
    want = np.exp(want - want.max(1, keepdims=True))
    diff = np.abs(head(x) - want / want.sum(1, keepdims=True)).max()
    if not diff <= 1e-4:  # NaN fails too
        raise SystemExit(f"the folded head does not reproduce the average (max difference {diff:.2g})")
    return head


def measure(heads: dict[str, LinearHead], vader_dir: Path | None) -> dict:
    """Macro-F1 of each head (and VADER) on the rows `callradar train sentiment` reports."""
    from callradar.models.encoder import load_encoder
    from callradar.training import data as D
    from callradar.training.sentiment import _features, _macro_f1, load_call_style, single_label, vader_set_labels

    encoder = load_encoder("all-MiniLM-L6-v2")
    labels = np.array(["negative", "neutral", "positive"])
    test = D.load_goemotions(D.default_data_dir(), "test")
    single = [i for i, e in enumerate(test.emotions) if single_label(e) is not None]
    y_te = np.array([single_label(test.emotions[i]) for i in single])
    texts = [test.texts[i] for i in single]
    _, xf_all = _features(encoder, test.texts, "goemotions-test")
    rows = {"goemotions test (the old head's domain)": (xf_all[single], y_te),
            "goemotions test, speech-style copy": (_features(encoder, [D.speech_style(t) for t in texts],
                                                             "goemotions-test-speech")[1], y_te)}
    call_texts, call_y = load_call_style()
    rows["call-style check set (tests/fixtures, never trained on)"] = (
        _features(encoder, call_texts, "call-style-check")[1], call_y)
    if vader_dir is not None:
        for name in D.VADER_SETS:
            texts_v, score_v = D.load_vader_set(vader_dir, name, max_rows=4000, seed=0)
            rows[f"VADER {name} sentences (measurement only)"] = (
                _features(encoder, texts_v, f"vader-{name}")[1], vader_set_labels(score_v)[0])
    out = {}
    for name, (xf, y) in rows.items():
        comp = xf[:, -1]
        vader = np.where(comp >= 0.05, "positive", np.where(comp <= -0.05, "negative", "neutral"))
        out[name] = {"rows": int(len(y)), "vader": _macro_f1(y, vader),
                     **{k: _macro_f1(y, labels[h(xf).argmax(1)]) for k, h in heads.items()}}
        print(name, out[name], flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--new", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--weight", type=float, default=0.5, help="the new head's share of the logits")
    ap.add_argument("--vader", type=Path, default=None, help="VADER's ground-truth sentence files (measured on only)")
    args = ap.parse_args()
    old, new = SentimentModel.load(args.old), SentimentModel.load(args.new)
    from callradar.models.encoder import load_encoder
    from callradar.training.sentiment import _features, load_call_style

    check_x = _features(load_encoder("all-MiniLM-L6-v2"), load_call_style()[0], "call-style-check")[1]
    head = averaged(old.heads["sentiment"], new.heads["sentiment"], args.weight, check_x)
    metrics = measure({"old": old.heads["sentiment"], "new": new.heads["sentiment"], "average": head}, args.vader)
    card = {k: v for k, v in old.card.items() if k not in ("weights_sha256", "heads", "format_version",
                                                           "kind", "weights_file")}
    card.update(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        average_of={"old": {"created": old.card["created"], "weights_sha256": old.card["weights_sha256"],
                            "share": round(1 - args.weight, 3), "data": old.card["data"], "params": old.card["params"]},
                    "new": {"created": new.card["created"], "weights_sha256": new.card["weights_sha256"],
                            "share": args.weight, "data": new.card["data"], "params": new.card["params"]},
                    "frustration": "the old head's"},
    )
    card["metrics"] = {**old.card["metrics"], "average_comparisons": metrics,
                       "test_macro_f1": metrics["goemotions test (the old head's domain)"]["average"],
                       "call_style_macro_f1": metrics["call-style check set (tests/fixtures, never trained on)"]["average"]}
    save_heads(args.out, "sentiment", {"sentiment": head, "frustration": old.heads["frustration"]}, card)
    print(f"wrote {args.out}: {json.dumps({k: v['average'] for k, v in metrics.items()})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
