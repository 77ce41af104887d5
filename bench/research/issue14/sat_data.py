"""Load the USS satisfaction dialogues (ReDial + CCPE) as calls. Measurement only."""
from pathlib import Path

import numpy as np

SAT = Path("/work/shared/data/dialogues/satisfaction")

def load(name):
    dialogs, cur = [], []
    for line in (SAT / name).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        role, text = parts[0], parts[1] if len(parts) > 1 else ""
        ratings = parts[3] if len(parts) > 3 else ""
        if role == "USER" and text == "OVERALL":
            r = [int(x) for x in ratings.split(",") if x.strip()]
            dialogs.append({"turns": cur, "overall": float(np.mean(r))})
            cur = []
            continue
        r = [int(x) for x in ratings.split(",") if x.strip()] if ratings else []
        cur.append({"speaker": "customer" if role == "USER" else "agent", "text": text.replace("%3F", "?"),
                    "rating": float(np.mean(r)) if r else None})
    return dialogs

def load_all():
    out = []
    for name in ("ReDial.txt", "CCPE.txt"):
        for i, d in enumerate(load(name)):
            d["id"] = f"{name[:-4]}-{i}"
            d["source"] = name[:-4]
            d["y"] = int(d["overall"] < 3)
            t = 0.0
            for u in d["turns"]:  # synthetic timing: 0.4 s per word, 0.5 s gap (no timings in the data)
                dur = max(0.6, 0.4 * len(u["text"].split()))
                u["start"], u["end"] = t, t + dur
                t += dur + 0.5
            out.append(d)
    return out

if __name__ == "__main__":
    ds = load_all()
    for s in ("ReDial", "CCPE"):
        sub = [d for d in ds if d["source"] == s]
        print(s, len(sub), "dissatisfied", sum(d["y"] for d in sub), "turns/dialog", np.mean([len(d["turns"]) for d in sub]))
