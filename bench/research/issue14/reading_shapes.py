"""Three shapes of the live reading, aimed at the highest reading over a rated call (session 20; measurement only).

The highest reading (what an alert acts on, the issue's retrain row) ranks the rated dialogues worse than the
reading at the call's end: a reading built on call-so-far averages is as extreme after two utterances as after
thirty, so calm calls peak somewhere over their many prefixes. Three shapes that answer that directly:
- *evidence sums*: the reading is a sum of per-utterance evidence (the customer's summed negativity, positivity,
  frustration, thanks, negations, corrections, requests, ... and the turn count), so a calm call drifts down as it
  goes and an unhappy one up, like a posterior that firms up with evidence; the same plain logistic regression on
  the averages beside it, like for like;
- *the highest reading trained directly*: a linear reading whose soft maximum over each call's prefixes is fitted
  to the call's label (binary cross-entropy on tau * log-mean-exp(reading / tau), classes balanced, L2), so calm
  calls' peaks are what the loss pushes down;
- *calibrated per length*: `fit_risk_model` as `train risk` fits it, then one Platt scaling per band of customer
  turns so far, fitted on out-of-fold readings (each call once per band): an early reading means what it says;
- and, as a check on `fit_risk_model` itself, the same fit with free signs (no check that drops a feature whose weight
  comes out the wrong way), on the shipped recipe's features, `train risk`'s defaults and all features.
Call AUROC of the highest and of the end reading, held out (the 500) and by 5-fold CV on the 1000; same cached
features as peak_readings.py; nothing saved.

    W=<satisfaction_check --work folder> TRAIN_KEY=... TEST_KEY=... .venv/bin/python bench/research/issue14/reading_shapes.py
"""
import contextlib
import io
import os
import sys

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(__file__))
from mil_readings import fit, readings, report  # noqa: E402
from peak_readings import SHIPPED, W, load, logit  # noqa: E402

from callradar.models.call_features import FEATURE_NAMES  # noqa: E402
from callradar.training.risk import DEFAULT_EXCLUDED, fit_risk_model  # noqa: E402

torch.set_num_threads(1)


def sums(r):
    n = r["cust_turns"]
    return [r["cust_neg_mean"] * n, r["cust_pos_mean"] * n, r["frustration_mean"] * n, n, r["cust_thanks_rate"] * n,
            r["cust_negation_rate"] * n, r["cust_corrections"], r["cust_repeats"], r["intent_count"], r["kw_complaint"],
            r["kw_supervisor_request"], r["kw_cancellation"], r["kw_repeat_contact"], r["agent_reasks"],
            r["cust_unanswered"]]


def averages(r):
    return [r[k] for k in ("cust_neg_mean", "cust_pos_mean", "frustration_mean", "cust_thanks_rate",
                           "cust_negation_rate", "cust_neg_ewma", "frustration_ewma", "cust_neg_peak",
                           "frustration_max", "cust_corrections", "cust_repeats", "intent_corroborated")]


def shipped(r):
    return [r[k] for k in SHIPPED]


def label(cfs):
    return np.array([c.call.outcome == "escalated" for c in cfs], int)


class Reader:
    """A fitted reading over a call's prefix rows: .read(cf) -> one number per prefix."""

    def __init__(self, row_fn, score_fn):
        self.row_fn, self.score_fn = row_fn, score_fn

    def read(self, cf):
        if self.row_fn is None:  # score_fn reads the call itself
            return self.score_fn(cf)
        return self.score_fn(np.array([self.row_fn(r) for r in cf.rows], float))


def fit_plain_lr(cfs, row_fn, on, C):
    """Plain logistic regression on every prefix (each call weighing once) or on each call's end row."""
    xs, y = [np.array([row_fn(r) for r in cf.rows], float) for cf in cfs], label(cfs)
    if on == "end":
        a, b, w = np.array([x[-1] for x in xs]), y, None
    else:
        a, b = np.vstack(xs), np.concatenate([[v] * len(x) for v, x in zip(y, xs)])
        w = np.concatenate([[1.0 / len(x)] * len(x) for x in xs])
    sc = StandardScaler().fit(a)
    m = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(sc.transform(a), b, sample_weight=w)
    return Reader(row_fn, lambda x: m.decision_function(sc.transform(x)))


def fit_soft_max(cfs, row_fn, tau, lam):
    """A linear reading whose soft maximum over each call's prefixes is fitted to the call's label."""
    xs, y = [np.array([row_fn(r) for r in cf.rows], float) for cf in cfs], label(cfs)
    a = np.vstack(xs)
    mu, sd = a.mean(0), a.std(0) + 1e-9
    flat = torch.tensor((a - mu) / sd, dtype=torch.float32)
    idx = torch.tensor(np.concatenate([[i] * len(x) for i, x in enumerate(xs)]))
    n, yt = len(xs), torch.tensor(y, dtype=torch.float32)
    count = torch.zeros(n).index_add(0, idx, torch.ones(len(flat)))
    pos_weight = torch.tensor((1 - y.mean()) / y.mean())
    w, b = torch.zeros(a.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        s = flat @ w
        top = torch.full((n,), -1e9).scatter_reduce(0, idx, s, "amax")
        soft = top + tau * torch.log(torch.zeros(n).index_add(0, idx, torch.exp((s - top[idx]) / tau)) / count)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(soft + b, yt, pos_weight=pos_weight) + lam * (w @ w)
        loss.backward()
        return loss

    opt.step(closure)
    wn, bn = w.detach().numpy(), float(b.detach())
    return Reader(row_fn, lambda x: ((x - mu) / sd) @ wn + bn)


BANDS = (1, 2, 3, 5, 8, 12, 18)  # customer turns so far: band k holds [BANDS[k-1], BANDS[k])


def band(cf):
    return np.digitize([r["cust_turns"] for r in cf.rows], BANDS)


def fit_per_length(cfs):
    """`fit_risk_model`, then one Platt scaling per band of customer turns, on out-of-fold readings."""
    y, oof = label(cfs), [None] * len(cfs)
    for a, b in StratifiedKFold(5, shuffle=True, random_state=1).split(np.zeros(len(cfs)), y):
        m = fit([cfs[i] for i in a])
        for i in b:
            oof[i] = logit(readings(m, cfs[i]))
    model, platt = fit(cfs), {}
    for k in range(len(BANDS) + 1):
        x, t, wt = [], [], []
        for cf, r, lab in zip(cfs, oof, y):
            sel = band(cf) == k
            if sel.any():
                x += list(r[sel])
                t += [lab] * int(sel.sum())
                wt += [1 / sel.sum()] * int(sel.sum())
        if len(set(t)) == 2:
            lr = LogisticRegression(C=100).fit(np.array(x)[:, None], t, sample_weight=wt)
            platt[k] = (lr.coef_[0][0], lr.intercept_[0])

    def read(cf):
        r = logit(readings(model, cf))
        return np.array([platt[k][0] * v + platt[k][1] if k in platt else v for v, k in zip(r, band(cf))])
    return Reader(None, read)


def report_reader(name, fit_fn, tr, te, width=52):
    """As mil_readings.report, for readers that are not RiskModels."""
    y_tr, y_te = label(tr), label(te)

    def summary(m, cfs):
        return np.array([(r.max(), r[-1]) for r in (m.read(cf) for cf in cfs)])
    held = summary(fit_fn(tr), te)
    cv = np.zeros((len(tr), 2))
    for a, b in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(tr)), y_tr):
        cv[b] = summary(fit_fn([tr[i] for i in a]), [tr[i] for i in b])
    print(f"{name:{width}s} highest: held-out {roc_auc_score(y_te, held[:, 0]):.3f} CV {roc_auc_score(y_tr, cv[:, 0]):.3f}"
          f" | end: held-out {roc_auc_score(y_te, held[:, 1]):.3f} CV {roc_auc_score(y_tr, cv[:, 1]):.3f}", flush=True)


def main():
    tr, te = load(W + "/train.jsonl", os.environ["TRAIN_KEY"]), load(W + "/test.jsonl", os.environ["TEST_KEY"])
    report("fit_risk_model (today)", fit, tr, te, width=52)
    for on in ("prefix", "end"):
        for rows, fn in (("averages", averages), ("evidence sums", sums)):
            report_reader(f"plain LR C 0.01, {rows}, trained on {on}", lambda c, fn=fn, on=on: fit_plain_lr(c, fn, on, 0.01),
                          tr, te)
    for rows, fn, tau, lam in (("shipped features", shipped, 0.05, 0.01), ("shipped features", shipped, 0.05, 0.1),
                               ("shipped + evidence sums", lambda r: shipped(r) + sums(r), 0.02, 0.1)):
        report_reader(f"highest trained directly: {rows}, tau {tau}, L2 {lam}",
                      lambda c, fn=fn, tau=tau, lam=lam: fit_soft_max(c, fn, tau, lam), tr, te)
    report_reader("fit_risk_model, calibrated per length", fit_per_length, tr, te)
    defaults = tuple(n for n in FEATURE_NAMES if n not in DEFAULT_EXCLUDED)
    for rows, names in (("shipped recipe", SHIPPED), ("train risk's defaults", defaults), ("all features", FEATURE_NAMES)):
        for monotone in (True, False):
            report(f"fit_risk_model, {rows}, {'sign check' if monotone else 'free signs'}",
                   lambda c, names=names, monotone=monotone: fit_signs(c, names, monotone), tr, te, width=52)


def fit_signs(cfs, names, monotone):
    with contextlib.redirect_stderr(io.StringIO()):
        return fit_risk_model(cfs, features=tuple(names), horizon_s=1e6, monotone=monotone)[0]


if __name__ == "__main__":
    main()
