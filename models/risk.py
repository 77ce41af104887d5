"""Call risk: P(escalation | the call so far) from the call features, with reasons.

A logistic model over standardised features from callradar.models.call_features:
``z = intercept + sum(coef_i * (x_i - mean_i) / scale_i)``, ``risk = sigmoid(z)``,
optionally mapped through isotonic calibration points. Each term of the sum is a
feature's contribution, so the reasons are exact, not a post-hoc explanation.

Stored as plain JSON (never pickle: loading a model must not run code). The
bundled model (artifacts/risk/) is trained by ``callradar train risk`` on the
semi-synthetic corpus (see its model_card.md); the hand-set PRIOR it replaced
("prior-2", artifacts/risk-prior/) stays as the baseline ``callradar evaluate``
measures every model against. Both use this schema and load the same way:

    {"schema": "callradar.risk/1", "version": str, "kind": "prior" | "trained",
     "feature_names": [str], "coef": [float], "means": [float], "scales": [float > 0],
     "intercept": float,
     "calibration": {"x": [strictly increasing in 0..1], "y": [non-decreasing in 0..1]},  # optional
     "shrink": {"k": float > 0, "count": str, "features": [str]}  # optional; schema callradar.risk/2
    }

Shrinkage (``shrink``): early in a call a mean over two utterances says little, and a
live alert fires on the highest reading over the call, so the listed features are
pulled toward the training mean by ``w = n / (n + k)``, ``n`` the feature ``count``
(customer utterances so far): ``x' = mean + w (x - mean)``. Training applies the very
same :func:`shrink_weight` before fitting. A model with ``shrink`` is written as
``callradar.risk/2``, so an older reader refuses it instead of ignoring it.

Reasons: the features with the largest positive contributions, each with the
feature id, its value and contribution (for data scientists) and a sentence a
supervisor reads (``text``, :func:`reason_text`): "customer repeated the same
request 3 times", "asked for a manager".

``feature_names`` may be any subset of FEATURE_NAMES, in any order; a name the
feature code does not compute is refused, so a model can never silently read
features that the live pipeline does not produce.

Text part (``text_part``; schema ``callradar.risk/3``): what the words say. A logistic
regression on the call's pooled utterance embeddings (``POOLED`` from
``CallState.features(pooled=True)``: customer mean then agent mean, ``len(coef)`` numbers,
standardisation folded into ``coef``), ``p = sigmoid(intercept + coef . pooled)``, enters
the readable model as ONE more feature, ``TEXT_FEATURE`` ("words_like_escalated"), with
its own mean, scale, weight, shrinkage and reason ("what was said resembles escalated
calls (0.81)"). ``callradar train risk`` fits it out of fold on the user's calls
(training/risk.py). A model without it is a /1 or /2 file and scores exactly as before:

    "text_part": {"input": "pooled_embeddings", "encoder": str, "coef": [float], "intercept": float}
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from callradar.models.call_features import FEATURE_NAMES, POOLED
from callradar.models.types import RiskReading

SCHEMA = "callradar.risk/1"
SCHEMA_SHRINK = "callradar.risk/2"  # the same plus ``shrink``
SCHEMA_TEXT = "callradar.risk/3"  # the same plus ``text_part`` (shrink optional)
TEXT_FEATURE = "words_like_escalated"  # the text part's probability, a feature of the readable model
DEFAULT_RISK_DIR = Path(__file__).resolve().parent / "artifacts" / "risk"
PRIOR_RISK_DIR = Path(__file__).resolve().parent / "artifacts" / "risk-prior"  # the baseline
MODEL_FILE = "model.json"
CARD_FILE = "card.json"
TOP_REASONS = 3


class RiskModelError(ValueError):
    """A risk model file that cannot be used; the message names the file and the problem."""


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def shrink_weight(n, k: float):
    """``n / (n + k)``: how far a shrunk feature may move from the training mean (numbers or numpy arrays)."""
    return n / (n + k) if k > 0 else n * 0 + 1.0


def _times(n: float) -> str:
    n = int(round(n))
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


# feature -> (sentence when its value above the mean raised the risk, sentence when a value below it did);
# ``{v}`` is the value, ``{times}`` the value as a count ("3 times"), ``{pct}`` a rate as a percentage.
REASON_TEXTS: dict[str, tuple[str, str]] = {
    "cust_neg_ewma": ("customer negative in the last few utterances", "customer less positive than usual lately"),
    "cust_neg_peak": ("customer very negative at one point", "customer never clearly positive"),
    "cust_neg_slope": ("customer getting more negative", "customer mood not improving"),
    "cust_neg_streak": ("customer negative {times} in a row", "customer mood not improving"),
    "frustration_max": ("customer very frustrated at one point", "customer frustration"),
    "frustration_ewma": ("customer frustrated in the last few utterances", "customer frustration"),
    "intent_max": ("customer asked to escalate, complained or threatened to leave",
                   "customer escalation intent"),
    "intent_recent": ("customer asked to escalate, complained or threatened to leave",
                      "customer escalation intent"),
    "intent_count": ("customer asked to escalate or complained {times}", "customer escalation intent"),
    "intent_corroborated": ("customer asked to escalate, complained or threatened to leave more than once",
                      "customer escalation intent"),
    "kw_supervisor_request": ("asked for a manager", "asked for a manager"),
    "kw_cancellation": ("threatened to cancel", "threatened to cancel"),
    "kw_legal_threat": ("mentioned legal action", "mentioned legal action"),
    "kw_complaint": ("made a complaint", "made a complaint"),
    "kw_repeat_contact": ("said they have called about this before", "said they have called before"),
    "cust_talk_share": ("customer doing most of the talking", "customer barely getting a word in"),
    "interruptions_by_customer": ("customer interrupted the agent {times}", "customer interruptions"),
    "interruptions_by_agent": ("agent interrupted the customer {times}", "agent interruptions"),
    "overlap_s": ("both talking at once for {v:.0f} s", "talking over each other"),
    "dead_air_max_s": ("a silence of {v:.0f} s", "long silences"),
    "dead_air_total_s": ("{v:.0f} s of silence in all", "silences"),
    "duration_s": ("a long call ({v:.0f} s so far)", "a short call so far"),
    "agent_empathy_count": ("agent empathy", "agent has shown little empathy"),
    "agent_empathy_rate": ("agent empathy", "agent has shown little empathy"),
    "cust_turns": ("many customer turns ({v:.0f})", "few customer turns so far"),
    "cust_neg_mean": ("customer negative on average this call", "customer less negative than usual"),
    "cust_pos_mean": ("customer positive on average this call", "customer seldom positive this call"),
    "frustration_mean": ("customer frustrated on average this call", "customer frustration"),
    "cust_corrections": ("customer corrected the agent {times}", "customer corrections"),
    "cust_repeats": ("customer repeated the same request {times}", "customer repeats"),
    "cust_repeat_max": ("customer said much the same thing again", "customer repeats"),
    "agent_reasks": ("agent asked the customer to repeat or explain {times}", "agent asking again"),
    "cust_unanswered": ("customer questions left unanswered: {v:.0f}", "unanswered questions"),
    "hold_transfer": ("hold or transfer mentioned {times}", "hold or transfer"),
    "cust_thanks_rate": ("customer thanking the agent often", "customer seldom thanks the agent"),
    "cust_negation_rate": ("customer often says no or not ({pct:.0f} % of utterances)", "customer negations"),
    TEXT_FEATURE: ("what was said resembles escalated calls ({v:.2f})", "what was said resembles escalated calls"),
}


def reason_text(name: str, value: float, above_mean: bool) -> str:
    """The sentence a supervisor sees for a feature that raised the risk (the feature id if none is written)."""
    up, down = REASON_TEXTS.get(name, (name, name))
    return (up if above_mean else down).format(v=value, times=_times(value), pct=100 * value)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class RiskModel:
    """A loaded, validated risk model. Build with :meth:`load` or :meth:`from_dict`."""

    def __init__(self, feature_names, coef, means, scales, intercept, version,
                 kind="trained", calibration=None, shrink=None, text_part=None):
        self.feature_names = tuple(feature_names)
        self.coef = tuple(float(c) for c in coef)
        self.means = tuple(float(m) for m in means)
        self.scales = tuple(float(s) for s in scales)
        self.intercept = float(intercept)
        self.version = str(version)
        self.kind = kind
        self.calibration = calibration  # (xs, ys) or None
        self.shrink = ({"k": float(shrink["k"]), "count": shrink["count"], "features": tuple(shrink["features"])}
                       if shrink else None)  # {"k", "count", "features"} or None
        self._shrunk = frozenset(shrink["features"]) if shrink else frozenset()
        self.text_part = ({"input": POOLED, "encoder": str(text_part["encoder"]),
                           "coef": tuple(float(c) for c in text_part["coef"]), "intercept": float(text_part["intercept"])}
                          if text_part else None)  # None: the readable features only (files /1, /2)
        self._text_coef = np.array(self.text_part["coef"]) if text_part else None

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, path: str | Path | None = None) -> RiskModel:
        """Load ``model.json`` from a model folder (default: the bundled prior) or a file.

        In a folder with a ``card.json`` that records the model file's sha256,
        the hash is checked too, so a truncated or edited file is refused.
        """
        path = Path(path) if path is not None else DEFAULT_RISK_DIR
        model_file = path / MODEL_FILE if path.is_dir() else path
        try:
            raw = model_file.read_bytes()
        except OSError as exc:
            raise RiskModelError(f"cannot read risk model {model_file}: {exc.strerror or exc}") from None
        card_file = model_file.parent / CARD_FILE
        if card_file.exists():
            try:
                expected = json.loads(card_file.read_text()).get("sha256")
            except (OSError, ValueError, AttributeError) as exc:
                raise RiskModelError(f"{card_file}: not a readable model card ({exc})") from None
            if expected and hashlib.sha256(raw).hexdigest() != expected:
                raise RiskModelError(
                    f"{model_file}: sha256 differs from the one in {card_file.name}; "
                    "the file is corrupt or was changed without updating the card"
                )
        try:
            doc = json.loads(raw, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise RiskModelError(f"{model_file}: not valid JSON ({exc})") from None
        return cls.from_dict(doc, source=str(model_file))

    @classmethod
    def from_dict(cls, doc, source: str = "risk model") -> RiskModel:
        """Validate a model document (see the module docstring) and build the model."""

        def fail(problem: str):
            raise RiskModelError(f"{source}: {problem}")

        if not isinstance(doc, dict):
            fail(f"expected a JSON object, got {type(doc).__name__}")
        if doc.get("schema") not in (SCHEMA, SCHEMA_SHRINK, SCHEMA_TEXT):
            fail(f"schema is {doc.get('schema')!r}; expected {SCHEMA!r}, {SCHEMA_SHRINK!r} or {SCHEMA_TEXT!r}")
        has_text = doc.get("text_part") is not None
        if has_text != (doc["schema"] == SCHEMA_TEXT):
            fail(f"a model with a text_part has schema {SCHEMA_TEXT!r}, one without has {SCHEMA!r} or {SCHEMA_SHRINK!r}")
        if not has_text and (doc.get("shrink") is not None) != (doc["schema"] == SCHEMA_SHRINK):
            fail(f"a model with shrink has schema {SCHEMA_SHRINK!r}, one without has {SCHEMA!r}")
        for key in ("version", "feature_names", "coef", "means", "scales", "intercept"):
            if key not in doc:
                fail(f"missing field {key!r}")
        if not isinstance(doc["version"], str) or not doc["version"]:
            fail("version must be a non-empty string")
        names = doc["feature_names"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            fail("feature_names must be a non-empty list of strings")
        unknown = [n for n in names if n not in FEATURE_NAMES and not (has_text and n == TEXT_FEATURE)]
        if unknown:
            fail(f"unknown feature(s) {', '.join(unknown)}; "
                 f"the feature code computes {', '.join(FEATURE_NAMES)}")
        if len(set(names)) != len(names):
            fail("feature_names has duplicates")
        for key in ("coef", "means", "scales"):
            values = doc[key]
            if not isinstance(values, list) or len(values) != len(names):
                fail(f"{key} must be a list of {len(names)} numbers, one per feature")
            if not all(_finite(v) for v in values):
                fail(f"{key} holds a value that is not a finite number")
        if not all(s > 0 for s in doc["scales"]):
            fail("scales must all be > 0")
        if not _finite(doc["intercept"]):
            fail("intercept must be a finite number")
        kind = doc.get("kind", "trained")
        if kind not in ("prior", "trained"):
            fail(f"kind is {kind!r}; expected prior or trained")
        calibration = None
        if doc.get("calibration") is not None:
            calibration = _check_calibration(doc["calibration"], fail)
        shrink = None
        if doc.get("shrink") is not None:
            shrink = _check_shrink(doc["shrink"], names, fail)
        text_part = _check_text_part(doc["text_part"], names, fail) if has_text else None
        return cls(names, doc["coef"], doc["means"], doc["scales"], doc["intercept"],
                   doc["version"], kind, calibration, shrink, text_part)

    def to_dict(self) -> dict:
        doc = {
            "schema": SCHEMA_TEXT if self.text_part else SCHEMA_SHRINK if self.shrink else SCHEMA,
            "version": self.version,
            "kind": self.kind,
            "feature_names": list(self.feature_names),
            "coef": list(self.coef),
            "means": list(self.means),
            "scales": list(self.scales),
            "intercept": self.intercept,
        }
        if self.calibration is not None:
            doc["calibration"] = {"x": list(self.calibration[0]), "y": list(self.calibration[1])}
        if self.shrink is not None:
            doc["shrink"] = {"k": self.shrink["k"], "count": self.shrink["count"],
                             "features": list(self.shrink["features"])}
        if self.text_part is not None:
            doc["text_part"] = {"input": POOLED, "encoder": self.text_part["encoder"],
                                "coef": list(self.text_part["coef"]), "intercept": self.text_part["intercept"]}
        return doc

    def save(self, directory: str | Path, card: dict | None = None) -> Path:
        """Write ``model.json`` and a ``card.json`` (``card`` plus version and sha256)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        raw = (json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n").encode()
        (directory / MODEL_FILE).write_bytes(raw)
        meta = {"name": "risk", "version": self.version, "kind": self.kind, **(card or {}),
                "model_file": MODEL_FILE, "sha256": hashlib.sha256(raw).hexdigest(),
                "feature_names": list(self.feature_names)}
        (directory / CARD_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return directory

    # ------------------------------------------------------------------ scoring

    def predict(self, features: Mapping[str, float]) -> RiskReading:
        """Risk of the call so far, with up to three features that pushed it up most, in words.

        A model with a text part also reads ``features[POOLED]`` (``CallState.features(pooled=True)``).
        """
        contributions = []
        z = self.intercept
        w = 1.0
        if self.shrink is not None:
            w = shrink_weight(self._value(features, self.shrink["count"]), self.shrink["k"])
        words = self.text_score(features) if self.text_part is not None else None
        for name, c, m, s in zip(self.feature_names, self.coef, self.means, self.scales):
            value = words if name == TEXT_FEATURE else self._value(features, name)
            term = c * (value - m) / s * (w if name in self._shrunk else 1.0)
            z += term
            contributions.append((term, name, value, value >= m))
        risk = _sigmoid(z)
        if self.calibration is not None:
            risk = _interp(risk, *self.calibration)
        contributions.sort(key=lambda t: -t[0])
        reasons = [
            {"feature": name, "value": round(value, 4), "contribution": round(term, 4),
             "text": reason_text(name, value, above)}
            for term, name, value, above in contributions[:TOP_REASONS]
            if round(term, 4) > 0
        ]
        return RiskReading(risk=min(1.0, max(0.0, risk)), reasons=reasons, model_version=self.version)


    def text_score(self, features: Mapping) -> float:
        """The text part's P(escalated) from the pooled embeddings (all zeros before anything was embedded)."""
        try:
            pooled = features[POOLED]
        except KeyError:
            raise ValueError(f"features lack {POOLED!r}, which risk model {self.version}'s text part needs "
                             "(CallState.features(pooled=True))") from None
        if pooled is None:
            return _sigmoid(self.text_part["intercept"])
        pooled = np.asarray(pooled, dtype=np.float64).ravel()
        if len(pooled) != len(self._text_coef):
            raise ValueError(f"risk model {self.version}'s text part reads {len(self._text_coef)} pooled embedding "
                             f"numbers, got {len(pooled)}: another encoder ({self.text_part['encoder']} expected)")
        z = float(self._text_coef @ pooled) + self.text_part["intercept"]
        if not math.isfinite(z):
            raise ValueError(f"pooled embeddings give a non-finite text score ({z})")
        return _sigmoid(z)

    def _value(self, features: Mapping[str, float], name: str) -> float:
        try:
            value = float(features[name])
        except KeyError:
            raise ValueError(f"features lack {name!r}, which risk model {self.version} needs") from None
        if not math.isfinite(value):
            raise ValueError(f"feature {name!r} is {value}")
        return value


def _check_shrink(shrink, names, fail) -> dict:
    if not isinstance(shrink, dict) or set(shrink) != {"k", "count", "features"}:
        fail("shrink must be an object with k, count and features")
    if not _finite(shrink["k"]) or shrink["k"] <= 0:
        fail("shrink k must be a number > 0")
    if shrink["count"] not in FEATURE_NAMES:
        fail(f"shrink count {shrink['count']!r} is not a feature the feature code computes")
    feats = shrink["features"]
    if not isinstance(feats, list) or not all(isinstance(f, str) and f in names for f in feats):
        fail("shrink features must be a list of the model's own features")
    return {"k": float(shrink["k"]), "count": shrink["count"], "features": tuple(feats)}


def _check_text_part(part, names, fail) -> dict:
    if not isinstance(part, dict) or set(part) != {"input", "encoder", "coef", "intercept"}:
        fail("text_part must be an object with input, encoder, coef and intercept")
    if part["input"] != POOLED:
        fail(f"text_part input is {part['input']!r}; the feature code provides {POOLED!r}")
    coef = part["coef"]
    if not isinstance(coef, list) or not coef or len(coef) % 2 or not all(_finite(c) for c in coef):
        fail("text_part coef must be a non-empty list of finite numbers, customer then agent half")
    if not _finite(part["intercept"]) or not isinstance(part["encoder"], str):
        fail("text_part intercept must be a finite number and encoder a string")
    if TEXT_FEATURE not in names:
        fail(f"a model with a text_part needs the feature {TEXT_FEATURE!r} that carries its score")
    return part


def _check_calibration(cal, fail) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if not isinstance(cal, dict) or not isinstance(cal.get("x"), list) or not isinstance(cal.get("y"), list):
        fail("calibration must be an object with lists x and y")
    xs, ys = cal["x"], cal["y"]
    if len(xs) < 2 or len(xs) != len(ys):
        fail("calibration x and y need the same length, at least 2")
    if not all(_finite(v) and 0 <= v <= 1 for v in xs + ys):
        fail("calibration points must be numbers in [0, 1]")
    if any(b <= a for a, b in zip(xs, xs[1:])):
        fail("calibration x must be strictly increasing")
    if any(b < a for a, b in zip(ys, ys[1:])):
        fail("calibration y must be non-decreasing (isotonic)")
    return tuple(map(float, xs)), tuple(map(float, ys))


def _interp(p: float, xs, ys) -> float:
    """Piecewise-linear through the isotonic points, flat beyond the ends."""
    if p <= xs[0]:
        return ys[0]
    if p >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, p)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (p - x0) / (x1 - x0)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")
