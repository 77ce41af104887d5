"""Our own call-style set as the research used it (702 rows, CC0), written to /tmp/exp14/data/own/callstyle.jsonl.

The generator now lives in the product (training/callstyle.py, which also adds the calm negatives
the shipped intent head is trained on); ``calm_negatives=False`` gives the research's rows exactly.
"""
import json
from collections import Counter
from pathlib import Path

from callradar.training.callstyle import callstyle_rows

OUT = Path("/tmp/exp14/data/own/callstyle.jsonl")

rows = callstyle_rows(calm_negatives=False)
OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
print(len(rows), Counter((r["kind"], r["intent"]) for r in rows))
