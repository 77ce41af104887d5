"""Would the insights report's "calls to follow up" find the dissatisfied rated dialogues?

Measurement only (the rated dialogues never train anything shipped). Per held-out dialogue: whether the live
trigger's rules would have paged a supervisor (threshold 0.6, confirmation 2: `first_alert_index`), and the risk
after its last utterance; the list is the calls with no page whose risk at the end is at or above the re-arm
threshold, as training/insights.py `_follow_up` takes them. W is a `bench/satisfaction_check.py` work folder (its
feature cache and its retrained model).

    CALLRADAR_STATE_DIR=W/state .venv/bin/python bench/research/issue14/follow_up_list.py W
"""
import sys

import numpy as np

from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.score import load_models
from callradar.training.evaluate import first_alert_index, load_model_dir
from callradar.training.features import feature_cache_dir, features_of
from callradar.training.labelled_calls import read_calls

W = sys.argv[1]
settings = load_settings()
calls = read_calls(f"{W}/test.jsonl", labelled_only=True)
cfs = features_of(calls, load_models(settings).text_scorer, cache_dir=feature_cache_dir(settings))
for name, path in (("shipped", "models/artifacts/risk"), ("retrained (whole-call labels)", f"{W}/m-train")):
    m = load_model_dir(path)
    y, alerted, end = [], [], []
    for cf in cfs:
        r = [m.predict(x) for x in cf.model_inputs()]
        y.append(cf.call.outcome == "escalated")
        alerted.append(first_alert_index(cf, r, 0.6, 2) is not None)
        end.append(r[-1].risk)
    y, alerted, end = np.array(y), np.array(alerted), np.array(end)
    for rearm in (0.4, 0.3):
        listed = ~alerted & (end >= rearm)
        print(f"{name}, re-arm {rearm}: alerted {alerted.sum()} (dissatisfied {(alerted & y).sum()}); listed {listed.sum()}"
              f" (dissatisfied {(listed & y).sum()}, share {(listed & y).sum() / max(listed.sum(), 1):.3f});"
              f" not alerted {(~alerted).sum()} (dissatisfied share {(y & ~alerted).sum() / (~alerted).sum():.3f})")
    top = np.argsort(-np.where(alerted, -1, end))[:50]
    print(f"  top 50 not alerted by end risk: dissatisfied {y[top].sum()} (share {y[top].mean():.2f}); base rate {y.mean():.3f}")
