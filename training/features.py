"""Call features of labelled calls, prefix by prefix, as the live score stage computes them.

Shared by training (training/risk.py) and evaluation (training/evaluate.py): the
text scores come from the live text scorer and the features from
``callradar.models.call_features``, so neither can drift from the score stage.
Each prefix also keeps the pooled utterance embeddings (``POOLED``) that a risk
model's text part reads, from the same ``CallState``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callradar.models.call_features import POOLED, features_for_call
from callradar.models.types import ScoredUtterance
from callradar.training.labelled_calls import LabelledCall
from callradar.training.progress import Bar

HORIZON_S = 20.0  # chosen by call-grouped CV on the training split (docs/benchmarks.md)


def score_calls(calls: list[LabelledCall], scorer, batch: int = 256, progress: bool = True) -> list[list[ScoredUtterance]]:
    """Text scores for every utterance of every call, encoder batched across calls."""
    flat = [(i, u) for i, c in enumerate(calls) for u in c.utterances]
    out: list[list[ScoredUtterance]] = [[] for _ in calls]
    with Bar(len(flat), "scoring utterances", "utt", enabled=progress) as bar:
        for k in range(0, len(flat), batch):
            chunk = flat[k : k + batch]
            scores = scorer.score_batch([u.text for _, u in chunk], [u.speaker for _, u in chunk])
            for (i, u), s in zip(chunk, scores):
                out[i].append(ScoredUtterance(u.speaker, u.start, u.end, u.text, s, u.confidence,
                                              getattr(u, "no_speech_prob", None)))
            bar.update(len(chunk))
    return out


@dataclass
class CallFeatures:
    """One call's prefixes: features after each utterance and the call time they became known."""

    call: LabelledCall
    rows: list[dict[str, float]]
    times: np.ndarray  # latest utterance end so far: the live trigger's call time
    pooled: np.ndarray | None = None  # per prefix, the pooled embeddings (float32); None: the scorer gave none

    def matrix(self, names) -> np.ndarray:
        return np.array([[r[n] for n in names] for r in self.rows], dtype=float)

    def model_inputs(self) -> list[dict]:
        """What a risk model's ``predict`` reads after each utterance: the rows, with ``POOLED`` where known."""
        if self.pooled is None:
            return self.rows
        return [{**r, POOLED: p} for r, p in zip(self.rows, self.pooled)]


def call_features(calls: list[LabelledCall], scored: list[list[ScoredUtterance]]) -> list[CallFeatures]:
    out, pooled = [], []
    for call, utts in zip(calls, scored):
        times = np.maximum.accumulate(np.array([u.end for u in utts], dtype=float))
        rows = features_for_call(utts, pooled=True)
        pooled.append([r.pop(POOLED) for r in rows])
        out.append(CallFeatures(call, rows, times))
    dim = next((len(p) for per_call in pooled for p in per_call if p is not None), None)
    if dim is not None:  # before anything was embedded: zeros, as the text part reads None live
        for cf, per_call in zip(out, pooled):
            cf.pooled = np.array([p if p is not None else np.zeros(dim, np.float32) for p in per_call],
                                 dtype=np.float32).reshape(len(per_call), dim)
    return out


def escalation_time(call: LabelledCall) -> float | None:
    """When the call escalated; an escalated call without a time escalated at its end (for lead times;
    its training labels are the whole call's, :func:`prefix_labels`)."""
    if call.outcome != "escalated":
        return None
    return call.escalation_time if call.escalation_time is not None else call.end


def prefix_labels(cf: CallFeatures, horizon_s: float) -> np.ndarray:
    """1 / 0 per prefix, -1 for prefixes left out of training (why: training/risk.py's docstring)."""
    t_esc = escalation_time(cf.call)
    if t_esc is None:
        return np.zeros(len(cf.times), dtype=int)
    if cf.call.escalation_time is None:  # a label for the call as a whole (a rating, a complaint logged after it)
        return np.ones(len(cf.times), dtype=int)
    return np.where(cf.times >= t_esc - horizon_s, 1, -1)


def features_of(calls: list[LabelledCall], scorer, progress: bool = True,
                cache_dir: Path | None = None) -> list[CallFeatures]:
    """Prefix features of each call; with ``cache_dir``, reused while the calls and the text models are the same.

    Scoring the text is nearly all of the cost (minutes for a corpus on 2 cores),
    and train, evaluate and trying another horizon all need the same numbers.
    """
    path = cache_dir / f"{_features_key(calls, scorer)}.json" if cache_dir is not None else None
    pooled_path = path.with_suffix(".pooled.npy") if path is not None else None  # float32, every prefix in order
    if path is not None and path.exists():
        docs = json.loads(path.read_text())
        print(f"features of {len(calls)} calls from cache {path.name}", file=sys.stderr, flush=True)
        cfs = [CallFeatures(c, d["rows"], np.array(d["times"], dtype=float)) for c, d in zip(calls, docs)]
        if pooled_path.exists():
            pooled = np.load(pooled_path, allow_pickle=False)
            for cf, part in zip(cfs, np.split(pooled, np.cumsum([len(cf.rows) for cf in cfs])[:-1])):
                cf.pooled = part
        return cfs
    cfs = call_features(calls, score_calls(calls, scorer, progress=progress))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if cfs and cfs[0].pooled is not None:
            with open(pooled_path.with_suffix(".tmp"), "wb") as f:
                np.save(f, np.concatenate([cf.pooled for cf in cfs]), allow_pickle=False)
            pooled_path.with_suffix(".tmp").replace(pooled_path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"rows": cf.rows, "times": cf.times.tolist()} for cf in cfs]))
        tmp.replace(path)  # last: the JSON marks the entry complete
    return cfs


def _features_key(calls: list[LabelledCall], scorer) -> str:
    """Changes with any utterance, the text models, or the code and rules that turn text into features.

    The rules are the scorer's own: a registry's keywords.yaml replaces the bundled file.
    """
    from callradar import models
    from callradar.models.keywords import DEFAULT_RULES, KeywordRules

    h = hashlib.sha256(json.dumps(text_models(scorer), sort_keys=True).encode())
    root = Path(models.__file__).parent
    for name in ("call_features.py", "text_scorer.py", "keywords.py"):
        h.update((root / name).read_bytes())
    rules = getattr(scorer, "rules", None) or KeywordRules.from_yaml(DEFAULT_RULES)
    h.update(rules.digest().encode())
    for c in calls:
        h.update(c.call_id.encode() + b"\0")
        for u in c.utterances:
            h.update(f"{u.speaker}\0{u.start!r}\0{u.end!r}\0{u.confidence!r}\0{u.text}\n".encode())
    return h.hexdigest()[:24]


def feature_cache_dir(settings) -> Path:
    return Path(settings.state_dir) / "cache" / "risk-features"


def text_models(scorer) -> dict:
    """Which text models produced the features: a risk model is only valid with these
    (its card records them; the registry checks them when a model set is loaded)."""
    from callradar.models.registry import head_fingerprint  # the text models themselves load only here

    return {"encoder": getattr(scorer.encoder, "name", "?"), "sentiment": head_fingerprint(scorer.sentiment.card),
            "intent": head_fingerprint(scorer.intent.card)}
