"""Markdown tables for docs/benchmarks.md ("Text heads across domains") from one gate run (h4_gate.sh).

    .venv/bin/python bench/research/issue14/h4_table.py [/tmp/h4gate]
"""
import json
import sys
from pathlib import Path

G = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/h4gate")


def cell(v, bold=False):
    if v is None:
        return "–"
    s = f"{v:.3f}"
    return f"**{s}**" if bold else s


sent = json.loads((G / "new/sentiment/card.json").read_text())["metrics"]
intent = json.loads((G / "new/intent/card.json").read_text())["metrics"]
print("**(a) Sentiment, 3-class macro-F1 (frustration AUROC)**: new heads / old (shipped) heads / VADER, same rows\n")
print("| test rows | n | new | old | VADER | frustration new | old | VADER |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for k, v in {**sent["comparisons"], **{f"LODO: {k}": v for k, v in sent["leave_one_domain_out"].items()}}.items():
    print(f"| {k} | {v['rows']} | {cell(v['new_macro_f1'], True)} | {cell(v['baseline_macro_f1'])} | "
          f"{cell(v['vader_macro_f1'])} | {cell(v.get('frustration_new_auroc'))} | "
          f"{cell(v.get('frustration_baseline_auroc'))} | {cell(v.get('frustration_vader_auroc'))} |")
print("\n**(a) Escalation intent, AUROC**: new head / old head, alone and fused with the keyword rules (live)\n")
print("| held out | rows (positive) | new | new + keywords | old | old + keywords | VADER negativity |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for k, v in intent["leave_one_domain_out"].items():
    print(f"| {k} | {v['rows']} ({v['positives']}) | {cell(v['new_head'], True)} | {cell(v['new_fused'])} | "
          f"{cell(v['baseline_head'])} | {cell(v['baseline_fused'])} | {cell(v['vader_negativity'])} |")
print(f"\nBitext held-out fold, new head trained with Bitext: {intent['heldout_auroc']} "
      f"(speech-style {intent['heldout_auroc_asr_style']}); call probes {intent['call_probe_auroc']}.")

print("\n**(b) Call level: satisfaction dialogues (measurement only), call AUROC of the highest risk over the call**\n")
print("| model set | risk | pooled | ReDial | CCPE | mean of sources | ReDial -> CCPE (its risk) | real calm calls: alerts | "
      "customer utts intent >= 0.5 |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for name, label in (("sat-shipped", "shipped (old heads, risk-20261203-0942)"),
                    ("sat-oldre", "old heads, risk retrained today (control)"),
                    ("sat-new", "new heads, risk retrained on them"),
                    ("sat-mix", "old sentiment + new intent, risk retrained on them (diagnosis)"),
                    ("sat-nopos", "new heads, risk retrained on them without cust_pos_mean (session 9)"),
                    ("sat-avg", "average of old and new sentiment heads + new intent, risk retrained as nopos (session 9)")):
    p = G / f"{name}.json"
    if not p.exists():
        print(f"| {label} | (not run) |")
        continue
    d = json.loads(p.read_text())
    s = d.get("shipped_test", {})
    by = s.get("auroc_by_source", {})
    rc = d.get("real_calls", {})
    alerts = " + ".join(str(len(c["alerts"])) for c in rc.values())
    hits = " + ".join(str(len(c.get("customer_intent_at_or_above_0.5", []))) for c in rc.values())
    cross = d.get("redial_to_ccpe", {}).get("shipped", {}).get("auroc")
    print(f"| {label} | {d.get('shipped')} | {cell(s.get('auroc'), True)} | {cell(by.get('ReDial'))} | "
          f"{cell(by.get('CCPE'))} | {cell(s.get('auroc_mean_of_sources'))} | {cell(cross)} | {alerts} | {hits} |")
for name in ("sat-shipped", "sat-oldre", "sat-new", "sat-mix", "sat-nopos", "sat-avg"):
    p = G / f"{name}.json"
    if p.exists():
        d = json.loads(p.read_text())
        r = d.get("retrained_test", {})
        print(f"\n{name}: `train risk` on the 1,000 rated dialogues with these heads, evaluated on the 500: "
              f"pooled {cell(r.get('auroc'))}, mean of sources {cell(r.get('auroc_mean_of_sources'))}; "
              f"real calls highest risk " + ", ".join(f"{k} {v['highest_risk']}" for k, v in d.get("real_calls", {}).items()))
