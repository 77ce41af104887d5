"""The fine-tuned model (finetune_ship.py) against the bundled heads: utterance level and call level (research, session 20).

utt: sentiment macro-F1 and frustration AUROC (GoEmotions test, its speech-style copy, the call-style check set, VADER's
sentence sets: measurement only), the escalation intent (fused with the keyword rules and negativity as live) on the Amazon
complaint proxy, Bitext's held-out fold and the two real calm calls; call: `fit_risk_model` (as mil_readings.fit) on the
1,000 rated dialogues scored by each set of heads, highest and end reading; corpus: the shipped recipe (risk fitted on the
corpus) with each set of heads, its highest reading on the 500. Nothing is saved but utterance_level.json in MODEL_DIR.

    VADER_GT=<hutto_ICWSM_2014 folder> CORPUS=<callradar corpus build --out> W=<satisfaction_check --work> \
    TRAIN_KEY=... TEST_KEY=... .venv/bin/python bench/research/issue14/eval_ft.py MODEL_DIR [utt|call|corpus]...
"""
import contextlib, io, json, os, sys, types
import numpy as np, torch
from sklearn.metrics import f1_score, roc_auc_score
torch.set_num_threads(int(os.environ.get("FT_THREADS", "2")))
from transformers import AutoModel, AutoTokenizer
from callradar.models.encoder import length_sorted_batches
from callradar.models.keywords import KeywordRules
from callradar.models.text_scorer import TextScorer, fuse_intent
from callradar.models.types import TextScores
from callradar.training import data as D, sentiment as S, intent as I

LAB = ["negative", "neutral", "positive"]
W_NEG = 0.3  # the bundled intent card's negativity weight, kept for both


class FTScorer:
    def __init__(self, d):
        self.tok = AutoTokenizer.from_pretrained(d); self.model = AutoModel.from_pretrained(d).eval()
        self.heads = torch.nn.ModuleDict({"sentiment": torch.nn.Linear(384, 3), "frustration": torch.nn.Linear(384, 1),
                                          "intent": torch.nn.Linear(384, 1)})
        self.heads.load_state_dict(torch.load(os.path.join(d, "heads.pt")))
        self.rules = KeywordRules.from_yaml()
        self.encoder = types.SimpleNamespace(name="ft")

    def raw(self, texts):
        n = len(texts); ps, fr, it, em = np.zeros((n, 3)), np.zeros(n), np.zeros(n), np.zeros((n, 384), np.float32)
        with torch.inference_mode():
            for chunk, batch in length_sorted_batches(self.tok, list(texts), 64, 64, torch.device("cpu")):
                h = self.model(**batch).last_hidden_state; m = batch["attention_mask"].unsqueeze(-1).float()
                e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                ps[chunk] = torch.softmax(self.heads["sentiment"](e), 1).numpy()
                fr[chunk] = torch.sigmoid(self.heads["frustration"](e)[:, 0]).numpy()
                it[chunk] = torch.sigmoid(self.heads["intent"](e)[:, 0]).numpy()
                em[chunk] = torch.nn.functional.normalize(e, dim=1).numpy()
        return ps, fr, it, em

    def score_batch(self, texts, speakers, batch_size=64):
        ps, fr, it, em = self.raw(texts)
        out = []
        for text, spk, p, f, i, v in zip(texts, speakers, ps, fr, it, em):
            scores = {c: float(p[k]) for k, c in enumerate(LAB)}
            hits = self.rules.match(text)
            if spk == "customer":
                intent, emp = fuse_intent(float(i), hits, self.rules.weights, W_NEG * scores["negative"]), 0.0
            else:
                intent, emp = float(i), self.rules.empathy(text)
            out.append(TextScores(max(scores, key=scores.get), scores, float(f), round(intent, 6), hits, emp, v))
        return out


def readings(scorer, texts):
    s = scorer.score_batch(list(texts), ["customer"] * len(texts))
    return (np.array([x.sentiment for x in s]), np.array([x.sentiment_scores["negative"] for x in s]),
            np.array([x.frustration for x in s]), np.array([x.intent for x in s]))


def utterance_level(scorers):
    data_dir = D.default_data_dir()
    test = D.load_goemotions(data_dir, "test")
    rows = [(t, S.single_label(e), S.frustrated(e)) for t, e in zip(test.texts, test.emotions) if S.single_label(e)]
    sets = {"GoEmotions test": ([r[0] for r in rows], np.array([r[1] for r in rows]), np.array([r[2] for r in rows])),
            "GoEmotions test, speech-style": ([D.speech_style(r[0]) for r in rows], np.array([r[1] for r in rows]),
                                              np.array([r[2] for r in rows]))}
    ct, cy = S.load_call_style(); sets["call-style check set"] = (ct, cy, None)
    for name in ("amazon", "movie", "nyt"):
        t, sc = D.load_vader_set(os.environ["VADER_GT"], name); y, f = S.vader_set_labels(sc)
        sets[f"VADER {name} (measurement only)"] = (t, y, f)
    res = {}
    for label, (texts, y, f) in sets.items():
        line = {}
        for name, sc in scorers.items():
            lab, neg, fr, it = readings(sc, texts)
            line[name] = {"macro_f1": round(f1_score(y, lab, average="macro"), 3),
                          "frustration_auroc": None if f is None else round(roc_auc_score(f, fr), 3)}
        res[label] = line; print(label, json.dumps(line), flush=True)
    # complaint proxy and intent
    t, sc = D.load_vader_set(os.environ["VADER_GT"], "amazon"); keep = (sc <= -1.0) | (sc > -0.25)
    texts, y = [x for x, k in zip(t, keep) if k], (sc[keep] <= -1.0).astype(int)
    texts_b, _, yb, _, _, te = I.bitext_split(data_dir, 0)
    calm = D.calm_call_customer_texts()
    for name, s in scorers.items():
        it = readings(s, texts)[3]; itb = readings(s, list(texts_b[te]))[3]; lab, _, _, itc = readings(s, calm)
        res.setdefault("intent", {})[name] = {"amazon complaint proxy auroc": round(roc_auc_score(y, it), 3),
                                              "bitext held-out auroc": round(roc_auc_score(yb[te], itb), 4),
                                              "real calm calls >= 0.5": int((itc >= 0.5).sum()), "real calm max": round(float(itc.max()), 3),
                                              "real calm negative": int((lab == "negative").sum()), "real calm n": len(calm)}
        print(name, json.dumps(res["intent"][name]), flush=True)
    return res


def call_level(ft):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from peak_readings import load, W
    from mil_readings import fit, report
    from callradar.training.features import features_of
    from callradar.training.labelled_calls import read_calls
    tr_s, te_s = load(W + "/train.jsonl", os.environ["TRAIN_KEY"]), load(W + "/test.jsonl", os.environ["TEST_KEY"])
    report("bundled heads", fit, tr_s, te_s, 30)
    with contextlib.redirect_stderr(io.StringIO()):
        tr = features_of(read_calls(W + "/train.jsonl", labelled_only=True), ft, progress=False)
        te = features_of(read_calls(W + "/test.jsonl", labelled_only=True), ft, progress=False)
    report("fine-tuned heads", fit, tr, te, 30)
    return tr, te, tr_s, te_s


def corpus_gate(ft, sat):
    """The shipped recipe: risk fitted on the corpus (DEFAULT_EXCLUDED + cust_pos_mean, horizon 20 s) with each set of
    heads, then its highest reading on the 500 held-out rated dialogues."""
    from callradar.models.call_features import FEATURE_NAMES
    from callradar.training.features import features_of
    from callradar.training.labelled_calls import read_calls
    from callradar.training.risk import DEFAULT_EXCLUDED, fit_risk_model
    names = tuple(n for n in FEATURE_NAMES if n not in (*DEFAULT_EXCLUDED, "cust_pos_mean"))
    bundled = TextScorer.load()
    corpus = read_calls(os.environ["CORPUS"] + "/train.parquet", labelled_only=True)
    ctest = read_calls(os.environ["CORPUS"] + "/test.parquet", labelled_only=True)
    tr_ft, te_ft, tr_s, te_s = sat
    for name, sc, te in (("bundled", bundled, te_s), ("fine-tuned", ft, te_ft)):
        with contextlib.redirect_stderr(io.StringIO()):
            cfs = features_of(corpus, sc, progress=False); cts = features_of(ctest, sc, progress=False)
            model, _ = fit_risk_model(cfs, features=names)
        def auc(cf_list):
            y = [c.call.outcome == "escalated" for c in cf_list]
            return round(roc_auc_score(y, [max(model.predict(r).risk for r in c.rows) for c in cf_list]), 3)
        print(f"corpus-trained risk, {name} heads: corpus held-out {auc(cts)}, rated dialogues (500) highest {auc(te)}", flush=True)


if __name__ == "__main__":
    ft = FTScorer(sys.argv[1]); parts = sys.argv[2:] or ["utt", "call", "corpus"]
    if "utt" in parts:
        r = utterance_level({"bundled": TextScorer.load(), "fine-tuned": ft})
        json.dump(r, open(os.path.join(sys.argv[1], "utterance_level.json"), "w"), indent=1)
    sat = call_level(ft) if ("call" in parts or "corpus" in parts) else None
    if "corpus" in parts:
        corpus_gate(ft, sat)
