"""Markdown tables from results/*.json (so the report's figures are the scripts' figures)."""
import json
import sys
from pathlib import Path

R = Path("/tmp/exp14/results")
def risk_main():
    d = json.load(open(R / "risk_main.json"))
    cols = list(next(iter(d.values())).keys())
    print("| model | " + " | ".join(cols) + " |"); print("| --- " * (len(cols) + 1) + "|")
    for m, r in d.items():
        print(f"| {m} | " + " | ".join(f"{r[c]['mean']:.3f} ± {r[c]['sd']:.3f}" if r[c]['n'] > 1 else f"{r[c]['mean']:.3f}" for c in cols) + " |")
    print("\npooled AUROC (both sources mixed), same fits:\n")
    print("| model | " + " | ".join(cols[:2]) + " |"); print("| --- " * 3 + "|")
    for m, r in d.items():
        print(f"| {m} | " + " | ".join(f"{r[c]['pooled_mean']:.3f}" for c in cols[:2]) + " |")
def heads():
    d = json.load(open(R / "heads_lodo.json"))
    for task, by in d.items():
        metric = "macro-F1" if task == "sentiment" else "AUROC"
        rows = sorted({k for r in by.values() for k in r if k != "n_test"}, key=lambda k: (not k.startswith("shipped"), k != "VADER", k))
        print(f"\n**{task}** ({metric}; column = held-out source, n test rows in header)\n")
        print("| model | " + " | ".join(f"{h} ({r['n_test']})" for h, r in by.items()) + " |"); print("| --- " * (len(by) + 1) + "|")
        for k in rows:
            print(f"| {k} | " + " | ".join(f"{r[k]:.3f}" if k in r else "–" for r in by.values()) + " |")
def curve():
    d = json.load(open(R / "risk_curve.json"))
    print("| model | 100 calls | 300 calls | 1000 calls |\n| --- | --- | --- | --- |")
    for m, r in d.items():
        print(f"| {m} | " + " | ".join(f"{r[n]['mean']:.3f} ± {r[n]['sd']:.3f}" for n in ("100", "300", "1000")) + " |")
globals()[sys.argv[1]]()
