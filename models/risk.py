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
     "calibration": {"x": [strictly increasing in 0..1], "y": [non-decreasing in 0..1]}  # optional
    }

``feature_names`` may be any subset of FEATURE_NAMES, in any order; a name the
feature code does not compute is refused, so a model can never silently read
features that the live pipeline does not produce.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path

from callradar.models.call_features import FEATURE_NAMES
from callradar.models.types import RiskReading

SCHEMA = "callradar.risk/1"
DEFAULT_RISK_DIR = Path(__file__).resolve().parent / "artifacts" / "risk"
PRIOR_RISK_DIR = Path(__file__).resolve().parent / "artifacts" / "risk-prior"  # the baseline
MODEL_FILE = "model.json"
CARD_FILE = "card.json"
TOP_REASONS = 3


class RiskModelError(ValueError):
    """A risk model file that cannot be used; the message names the file and the problem."""


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class RiskModel:
    """A loaded, validated risk model. Build with :meth:`load` or :meth:`from_dict`."""

    def __init__(self, feature_names, coef, means, scales, intercept, version,
                 kind="trained", calibration=None):
        self.feature_names = tuple(feature_names)
        self.coef = tuple(float(c) for c in coef)
        self.means = tuple(float(m) for m in means)
        self.scales = tuple(float(s) for s in scales)
        self.intercept = float(intercept)
        self.version = str(version)
        self.kind = kind
        self.calibration = calibration  # (xs, ys) or None

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
        if doc.get("schema") != SCHEMA:
            fail(f"schema is {doc.get('schema')!r}; expected {SCHEMA!r}")
        for key in ("version", "feature_names", "coef", "means", "scales", "intercept"):
            if key not in doc:
                fail(f"missing field {key!r}")
        if not isinstance(doc["version"], str) or not doc["version"]:
            fail("version must be a non-empty string")
        names = doc["feature_names"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            fail("feature_names must be a non-empty list of strings")
        unknown = [n for n in names if n not in FEATURE_NAMES]
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
        return cls(names, doc["coef"], doc["means"], doc["scales"], doc["intercept"],
                   doc["version"], kind, calibration)

    def to_dict(self) -> dict:
        doc = {
            "schema": SCHEMA,
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
        """Risk of the call so far, with up to three features that pushed it up most."""
        contributions = []
        z = self.intercept
        for name, c, m, s in zip(self.feature_names, self.coef, self.means, self.scales):
            try:
                value = float(features[name])
            except KeyError:
                raise ValueError(f"features lack {name!r}, which risk model {self.version} needs") from None
            if not math.isfinite(value):
                raise ValueError(f"feature {name!r} is {value}")
            term = c * (value - m) / s
            z += term
            contributions.append((term, name, value))
        risk = _sigmoid(z)
        if self.calibration is not None:
            risk = _interp(risk, *self.calibration)
        contributions.sort(key=lambda t: -t[0])
        reasons = [
            {"feature": name, "value": round(value, 4), "contribution": round(term, 4)}
            for term, name, value in contributions[:TOP_REASONS]
            if round(term, 4) > 0
        ]
        return RiskReading(risk=min(1.0, max(0.0, risk)), reasons=reasons, model_version=self.version)


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
