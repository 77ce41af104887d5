"""Part C: small sequence models over utterance embeddings (+ speaker flag + shipped text scores), and the prefix setting.
usage: risk_seq.py seq | prefix"""
import json
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import torch

torch.set_num_threads(1)
warnings.filterwarnings("ignore")
sys.path.insert(0, "/tmp/exp14")
from risk_exp import I_D, I_E, I_T, XW, calls, lrcv, splits, src, y
from sklearn.metrics import roc_auc_score as _auc


def roc_auc_score(yt, s, te=None):
    raise RuntimeError

def wauc(te, s):
    """AUROC within each source, averaged (as risk_exp.auc)."""
    s = np.asarray(s, dtype=float)
    return float(np.mean([_auc(y[te][src[te] == k], s[src[te] == k]) for k in np.unique(src[te])]))

class Net(torch.nn.Module):
    def __init__(self, d, kind, h=64):
        super().__init__()
        self.kind = kind
        self.inp = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(d, h), torch.nn.ReLU())
        if kind == "gru":
            self.rnn = torch.nn.GRU(h, h, batch_first=True)
        self.att = torch.nn.Linear(h, 1)
        self.out = torch.nn.Linear(2 * h, 1)
    def forward(self, x, mask):
        h = self.inp(x)
        if self.kind == "gru":
            h, _ = self.rnn(h)
        a = self.att(h).squeeze(-1).masked_fill(~mask, -1e9)
        w = torch.softmax(a, 1).unsqueeze(-1)
        att = (w * h).sum(1)
        mx = h.masked_fill(~mask.unsqueeze(-1), -1e9).max(1).values
        return self.out(torch.cat([att, mx], 1)).squeeze(-1)

def pad(idx):
    L = max(len(calls[i]["seq"]) for i in idx)
    d = calls[0]["seq"].shape[1]
    X = np.zeros((len(idx), L, d), np.float32); M = np.zeros((len(idx), L), bool)
    for k, i in enumerate(idx):
        s = calls[i]["seq"]; X[k, :len(s)] = s; M[k, :len(s)] = True
    return torch.tensor(X), torch.tensor(M)

def fit_predict(tr, te, kind="gru", epochs=25, seed=0):
    torch.manual_seed(seed)
    net = Net(calls[0]["seq"].shape[1], kind)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-2)
    pos_w = torch.tensor((y[tr] == 0).sum() / max(1, (y[tr] == 1).sum()))
    Xtr, Mtr = pad(tr); ytr = torch.tensor(y[tr], dtype=torch.float)
    r = np.random.default_rng(seed)
    for ep in range(epochs):
        net.train()
        for k in range(0, len(tr), 32):
            b = r.permutation(len(tr))[:32] if False else None
        perm = r.permutation(len(tr))
        for k in range(0, len(tr), 32):
            b = perm[k:k + 32]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(Xtr[b], Mtr[b]), ytr[b], pos_weight=pos_w)
            opt.zero_grad(); loss.backward(); opt.step()
    net.eval()
    Xte, Mte = pad(te)
    with torch.no_grad():
        return net(Xte, Mte).numpy()

def prefix_exp():
    """LR everything / LR emb: whole-call training vs prefix training; scored on the whole call or max over prefixes."""
    res = {}
    sp = splits()["train 1000 / test 500 (random, 5 seeds)"][:3] + splits()["ReDial(1000) -> CCPE(500)"]
    for fname, idx in (("LR today's 22", I_T), ("LR today+dyn", np.r_[I_T, I_D]), ("LR pooled emb", I_E)):
        out = {"whole->whole": [], "whole->max prefix": [], "prefix->max prefix": [], "prefix->whole": []}
        for tr, te in sp:
            clf = lrcv(XW[tr][:, idx], y[tr])
            out["whole->whole"].append(wauc(te, clf.decision_function(XW[te][:, idx])))
            out["whole->max prefix"].append(wauc(te, [clf.decision_function(calls[i]["X"][:, idx].astype(float)).max() for i in te]))
            # prefix training: every prefix labelled with the call label; each call weighs the same
            Xp = np.vstack([calls[i]["X"][:, idx] for i in tr]).astype(float)
            yp = np.concatenate([np.full(len(calls[i]["X"]), y[i]) for i in tr])
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler
            wp = np.concatenate([np.full(len(calls[i]["X"]), 1.0 / len(calls[i]["X"])) for i in tr])
            wp = wp * np.where(yp == 1, (y[tr] == 0).sum() / (y[tr] == 1).sum(), 1.0)
            C = clf[-1].C_[0]
            pc = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000)).fit(Xp, yp, logisticregression__sample_weight=wp)
            out["prefix->max prefix"].append(wauc(te, [pc.decision_function(calls[i]["X"][:, idx].astype(float)).max() for i in te]))
            out["prefix->whole"].append(wauc(te, pc.decision_function(XW[te][:, idx])))
        res[fname] = {k: {"random3_mean": float(np.mean(v[:3])), "random3_sd": float(np.std(v[:3])), "redial_to_ccpe": float(v[3])} for k, v in out.items()}
        print(fname, json.dumps(res[fname]), flush=True)
    json.dump(res, open("/tmp/exp14/results/risk_prefix.json", "w"), indent=1)

if __name__ == "__main__":
    if sys.argv[1] == "seq":
        S = splits()
        res = {}
        for kind in ("attn", "gru"):
            res[kind] = {}
            for sname in ("train 1000 / test 500 (random, 5 seeds)", "ReDial(1000) -> CCPE(500)", "CCPE(500) -> ReDial(1000)"):
                t0 = time.time()
                sp = S[sname][:3]
                a = [wauc(te, fit_predict(tr, te, kind)) for tr, te in sp]
                res[kind][sname] = {"mean": float(np.mean(a)), "sd": float(np.std(a)), "n": len(a), "sec_per_fit": (time.time() - t0) / len(sp)}
                print(kind, sname, f"{np.mean(a):.3f} ± {np.std(a):.3f}", f"{(time.time()-t0)/len(sp):.0f}s/fit", flush=True)
        json.dump(res, open("/tmp/exp14/results/risk_seq.json", "w"), indent=1)
    else:
        prefix_exp()
