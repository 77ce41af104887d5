"""Session 12's candidate sentiment head: `callradar train sentiment` with a network for the head and the call-style
set (with its negation rows) counted 3 times. The recipe's logistic regression could not learn negations ("no,
that's fine" stayed negative even among its training rows); this network does, but the call-level gate failed,
so it was not shipped (docs/benchmarks.md, "Negations in the sentiment head"). Same arguments as h4_run.py's
sentiment command; the embedding table makes it a minute:

    OMP_NUM_THREADS=2 CALLRADAR_EMBEDDING_CACHE=/tmp/h4cache/emb .venv/bin/python \\
        bench/research/issue14/sent_negation.py /tmp/h4cache sentiment --out /tmp/s12/g/mlp/sentiment \\
        --baseline models/artifacts/sentiment --max-train 16000 --measure-vader /tmp/exp14/data/vader_gt
"""
import runpy
import sys
from pathlib import Path

from callradar.training import sentiment as S

S.SENTIMENT_HEAD = {"model": "mlp", "hidden": 256, "dropout": 0.2, "weight_decay": 0.01, "epochs": 4,
                    "class_weight": "balanced"}
S.CALLSTYLE_REPEAT = 3
runpy.run_path(str(Path(__file__).with_name("h4_run.py")), run_name="__main__")
