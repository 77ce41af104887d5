"""Versioned model folders: add, list, promote, roll back; and what the score stage loads.

Layout under the registry root (``settings.models_dir``, default ``<state_dir>/models``)::

    <root>/<kind>/v1/            card.json + the model's files   (kind: risk, sentiment, intent)
    <root>/<kind>/v2/
    <root>/<kind>/current.json   {"version": "v2", "stack": ["v1", "v2"], ...}
    <root>/<kind>/history.jsonl  one line per add, promote and roll back (who, when, what)

Why this shape:

- a version folder never changes once added: it is copied in under a hidden name,
  checked, then renamed into place, so a worker never reads a half-written model;
- ``current.json`` is the only file promote and roll back touch, and it is replaced
  atomically (write a temp file, rename). Its inode and mtime are what the score
  stage polls, every ``CALLRADAR_MODELS_RELOAD_S`` seconds, to hot-reload;
- ``stack`` is the promotions still in force, so roll back is "pop": rolling back
  past the first promotion returns to the built-in models.

Nothing promoted means version ``builtin``: the artifacts shipped in models/artifacts/.
A model folder placed directly at ``<root>/<kind>/`` (the layout before the
registry) still loads, as version ``local``, while nothing is promoted.

Every version is loaded with the real loader before it is added and again before
it is promoted or rolled back to, and pickle-based files are refused outright:
unpickling a file runs code, and a model registry is exactly where a stranger's
file would end up.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callradar.models.hf_head import HFSpec
from callradar.models.intent import IntentModel
from callradar.models.keywords import DEFAULT_RULES
from callradar.models.risk import DEFAULT_RISK_DIR, RiskModel, RiskModelError
from callradar.models.sentiment import ARTIFACTS_DIR, ArtifactError, SentimentModel
from callradar.models.text_scorer import build_text_scorer
from callradar.models.types import MODEL_KINDS as KINDS
from callradar.models.types import UNSAFE_SUFFIXES

log = logging.getLogger(__name__)
BUILTIN = "builtin"
LOCAL = "local"
POINTER_FILE = "current.json"
HISTORY_FILE = "history.jsonl"
CARD_FILE = "card.json"
VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")
HEADS = ("sentiment", "intent")  # the text heads a risk model's features come from


class RegistryError(ValueError):
    """A registry operation that cannot be done; the message says why and what to do."""


def builtin_path(kind: str) -> Path:
    _check_kind(kind)
    return DEFAULT_RISK_DIR if kind == "risk" else ARTIFACTS_DIR / kind


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise RegistryError(f"unknown model kind {kind!r}; choose from {', '.join(KINDS)}")


def check_safe_files(folder: Path) -> None:
    """Refuse links (they can point anywhere) and pickle-based files anywhere in ``folder``."""
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise RegistryError(f"{path}: is a symbolic link; copy the real file into the model folder")
        if path.is_file() and path.suffix.lower() in UNSAFE_SUFFIXES:
            raise RegistryError(
                f"{path}: unsafe file: {path.suffix} files are pickle-based and loading them can run code; "
                "callradar only loads JSON and safetensors model files"
            )


def read_card(folder: Path) -> dict:
    card_path = Path(folder) / CARD_FILE
    if not card_path.is_file():
        raise RegistryError(f"{folder}: has no {CARD_FILE} (every model version needs its model card)")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{card_path}: not a readable model card ({exc})") from None
    if not isinstance(card, dict):
        raise RegistryError(f"{card_path}: not a model card (expected a JSON object)")
    return card


def validate(kind: str, folder: str | Path) -> dict:
    """Load the model in ``folder`` with the loader the score stage uses; return its card.

    Raises RegistryError naming the file and the problem (missing, corrupt,
    tampered with, unsafe, or a different kind of model).
    """
    _check_kind(kind)
    folder = Path(folder)
    if not folder.is_dir():
        raise RegistryError(f"{folder}: not a folder (a model version is a folder with {CARD_FILE})")
    check_safe_files(folder)
    card = read_card(folder)
    try:
        if kind == "risk":
            RiskModel.load(folder)
            if not card.get("sha256"):
                raise RegistryError(
                    f"{folder / CARD_FILE}: records no sha256 of model.json, so corruption could not be "
                    "detected; write risk models with RiskModel.save"
                )
        elif kind == "sentiment":
            SentimentModel.load(folder)
        else:
            IntentModel.load(folder)
    except (RiskModelError, ArtifactError) as exc:
        hint = ""
        if kind != "risk" and (folder / "config.json").exists():
            hint = (f" (a Hugging Face model is used through CALLRADAR_{kind.upper()}_MODEL, "
                    "not through the registry)")
        raise RegistryError(f"{folder} is not a loadable {kind} model: {exc}{hint}") from None
    return card


def summary_metrics(card: dict, limit: int = 4) -> dict[str, float]:
    """The first few scalar metrics of a card, for one-line listings.

    Cards that group metrics by data split (``{"train": {...}, "heldout": {...}}``)
    show the held-out ones, as ``heldout.auroc``.
    """
    metrics = card.get("metrics")
    if not isinstance(metrics, dict):
        return {}
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    found = {k: v for k, v in metrics.items() if number(v)}
    if not found:
        for group in ("heldout", "test", *metrics):
            if isinstance(metrics.get(group), dict):
                found = {f"{group}.{k}": v for k, v in metrics[group].items() if number(v)}
                if found:
                    break
    quality = ("auroc", "auc", "f1", "precision", "recall", "lead")  # before counts like "rows"
    ranked = sorted(found.items(), key=lambda kv: not any(q in kv[0] for q in quality))
    return dict(ranked[:limit])


@dataclass
class VersionInfo:
    kind: str
    version: str
    path: Path
    current: bool
    card: dict = field(default_factory=dict)
    problem: str = ""  # why the card could not be read, if it could not
    added: str = ""  # when it was added (from history), ISO time


class Registry:
    """One registry root. Safe for several processes: changes take a per-kind file lock."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # ------------------------------------------------------------ reading

    def kind_dir(self, kind: str) -> Path:
        _check_kind(kind)
        return self.root / kind

    def _state(self, kind: str) -> dict | None:
        pointer = self.kind_dir(kind) / POINTER_FILE
        try:
            state = json.loads(pointer.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{pointer}: unreadable ({exc}); restore it or delete it to run the built-in model") from None
        if not (isinstance(state, dict) and isinstance(state.get("version"), str) and isinstance(state.get("stack"), list)):
            raise RegistryError(f"{pointer}: not a registry pointer; restore it or delete it to run the built-in model")
        return state

    def _has_local(self, kind: str) -> bool:
        return (self.kind_dir(kind) / CARD_FILE).is_file()

    def current(self, kind: str) -> str:
        """The version the score stage runs now."""
        state = self._state(kind)
        if state is not None:
            return state["version"]
        return LOCAL if self._has_local(kind) else BUILTIN

    def path(self, kind: str, version: str) -> Path:
        """The folder of ``version`` (``builtin``, ``local`` or ``vN``); RegistryError if there is none."""
        if version == BUILTIN:
            return builtin_path(kind)
        if version == LOCAL and self._has_local(kind):
            return self.kind_dir(kind)
        folder = self.kind_dir(kind) / version
        if not VERSION_RE.match(version) or not folder.is_dir():
            known = ", ".join(v.version for v in self.versions(kind))
            raise RegistryError(f"no {kind} version {version!r} in {self.root}; there are: {known}")
        return folder

    def resolve(self, kind: str) -> tuple[str, Path]:
        """(version, folder) of what runs now."""
        version = self.current(kind)
        return version, self.path(kind, version)

    def forced(self, kind: str) -> bool:
        """Whether the promotion (or roll back) in force was forced past the model-set check."""
        state = self._state(kind)
        return bool(state and state.get("forced"))

    def numbered(self, kind: str) -> list[str]:
        folder = self.kind_dir(kind)
        if not folder.is_dir():
            return []
        found = [(int(m.group(1)), p.name) for p in folder.iterdir() if p.is_dir() and (m := VERSION_RE.match(p.name))]
        return [name for _, name in sorted(found)]

    def versions(self, kind: str) -> list[VersionInfo]:
        """builtin, then local if present, then v1, v2, ... with their cards."""
        current = self.current(kind)
        added = {h["version"]: h.get("ts", "") for h in self.history(kind) if h.get("action") == "add"}
        names = [BUILTIN] + ([LOCAL] if self._has_local(kind) else []) + self.numbered(kind)
        out = []
        for name in names:
            path = builtin_path(kind) if name == BUILTIN else self.kind_dir(kind) if name == LOCAL else self.kind_dir(kind) / name
            info = VersionInfo(kind, name, path, name == current, added=added.get(name, ""))
            try:
                info.card = read_card(path)
            except RegistryError as exc:
                info.problem = str(exc)
            out.append(info)
        return out

    def history(self, kind: str) -> list[dict]:
        path = self.kind_dir(kind) / HISTORY_FILE
        if not path.is_file():
            return []
        out = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    out.append(entry)
        return out

    def stamp(self) -> tuple:
        """Cheap change detector for the score stage: one stat() per kind, no reads."""
        out = []
        for kind in KINDS:
            try:
                st = os.stat(self.root / kind / POINTER_FILE)
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    # ------------------------------------------------------------ changing

    def add(self, kind: str, folder: str | Path, note: str = "") -> str:
        """Copy a model folder in as the next version (``v1``, ``v2``, ...) and return its name.

        The folder is loaded first (and its copy again), so a corrupt or unsafe
        model never becomes a version. Adding does not promote.
        """
        source = Path(folder)
        validate(kind, source)
        kind_dir = self.kind_dir(kind)
        kind_dir.mkdir(parents=True, exist_ok=True)
        incoming = kind_dir / f".incoming-{uuid.uuid4().hex[:12]}"
        try:
            shutil.copytree(source, incoming)
            validate(kind, incoming)  # the source may have changed while it was copied
            with self._lock(kind):
                numbers = [int(VERSION_RE.match(v).group(1)) for v in self.numbered(kind)]
                version = f"v{max(numbers, default=0) + 1}"
                os.rename(incoming, kind_dir / version)
                self._log(kind, "add", version, source=str(source.resolve()), note=note)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        return version

    def promote(self, kind: str, version: str, note: str = "", forced: bool = False) -> str:
        """Make ``version`` the one the score stage runs; refused if it does not load.

        ``forced``: the caller overrode the model-set check (see :func:`model_set_mismatch`);
        the pointer and the history say so, and loading the set then warns instead of refusing.
        """
        path = self.path(kind, version)
        if version != BUILTIN:
            validate(kind, path)
        with self._lock(kind):
            state = self._state(kind) or {"version": self.current(kind), "stack": []}
            if state["version"] == version:
                return version
            self._write_pointer(kind, version, state["stack"] + [version], forced)
            self._log(kind, "promote", version, previous=state["version"], note=note, forced=forced)
        return version

    def rollback_target(self, kind: str) -> str:
        """The version a roll back would return to; RegistryError when there is nothing to roll back."""
        state = self._state(kind)
        if not state or not state["stack"]:
            raise RegistryError(f"nothing to roll back: {kind} runs {self.current(kind)}, which was never promoted")
        stack = state["stack"][:-1]
        return stack[-1] if stack else (LOCAL if self._has_local(kind) else BUILTIN)

    def rollback(self, kind: str, note: str = "", forced: bool = False) -> str:
        """Undo the latest promotion still in force; return the version that runs now."""
        with self._lock(kind):
            version = self.rollback_target(kind)
            state = self._state(kind)
            stack = state["stack"][:-1]
            if version != BUILTIN:
                validate(kind, self.path(kind, version))
            self._write_pointer(kind, version, stack, forced)
            self._log(kind, "rollback", version, previous=state["version"], note=note, forced=forced)
        return version

    def _write_pointer(self, kind: str, version: str, stack: list[str], forced: bool = False) -> None:
        kind_dir = self.kind_dir(kind)
        kind_dir.mkdir(parents=True, exist_ok=True)
        doc = {"version": version, "stack": stack, "ts": _now_iso(), "by": _user(), **({"forced": True} if forced else {})}
        tmp = kind_dir / f".{POINTER_FILE}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, kind_dir / POINTER_FILE)

    def _log(self, kind: str, action: str, version: str, **extra: Any) -> None:
        entry = {"ts": _now_iso(), "action": action, "version": version, "by": _user(),
                 **{k: v for k, v in extra.items() if v}}
        with open(self.kind_dir(kind) / HISTORY_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    @contextlib.contextmanager
    def _lock(self, kind: str):
        import fcntl

        kind_dir = self.kind_dir(kind)
        kind_dir.mkdir(parents=True, exist_ok=True)
        with open(kind_dir / ".lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""


# ---------------------------------------------------------------- the loaded set


class ModelSetError(RegistryError):
    """A risk model and text heads that do not belong together; the message names both."""


@dataclass(frozen=True)
class ModelSet:
    """The text scorer and risk model the score stage runs, and the versions they came from."""

    text_scorer: Any
    risk_model: Any
    versions: dict  # kind -> version ("builtin", "local", "v3", "hf:<name>", "dir:<name>")

    @property
    def version(self) -> str:
        """What Score.model_version carries, e.g. ``risk=v3,sentiment=builtin,intent=builtin``."""
        return ",".join(f"{k}={self.versions[k]}" for k in KINDS)


def parse_model_version(text: str) -> dict[str, str]:
    """Inverse of ModelSet.version."""
    return dict(part.split("=", 1) for part in text.split(",") if "=" in part)


def head_fingerprint(card: dict) -> str:
    """How a risk model's card names a text head it was fitted on: name, creation time, weights hash
    (and an intent head's negativity weight, where it has one: it changes every customer intent)."""
    base = f"{card.get('name', '?')} {card.get('created', '')} sha256 {str(card.get('weights_sha256', ''))[:12]}"
    w = card.get("negativity_weight")
    return f"{base} negativity {w}" if w else base


def model_set_mismatch(risk: tuple[str, dict], heads: dict[str, tuple[str, dict | None]]) -> str | None:
    """Why this risk model must not run with these heads, or None when they belong together.

    ``risk`` is (version, card); ``heads`` maps sentiment / intent to (version, card),
    the card None for a head replaced by a Hugging Face model (not checked: the user
    chose it by name). A risk model whose card records no text models (the hand-set
    prior, older cards) reads any heads.
    """
    risk_version, risk_card = risk
    expected = risk_card.get("text_models") if isinstance(risk_card.get("text_models"), dict) else {}
    wrong = [k for k in HEADS if expected.get(k) and heads[k][1] is not None
             and head_fingerprint(heads[k][1]) != expected[k]]
    if not wrong:
        return None
    wants = ", ".join(f"{k} '{expected.get(k, '?')}'" for k in HEADS)
    has = ", ".join(f"{k} {heads[k][0]} '{head_fingerprint(heads[k][1]) if heads[k][1] is not None else heads[k][0]}'"
                    for k in HEADS)
    return (f"risk {risk_version} ({risk_card.get('version', '?')}) was trained on {wants}, but the heads loaded "
            f"are {has}; promote the heads it was trained on, or retrain it on these (callradar train risk)")


# A risk model whose held-out call AUROC is lower than the model it replaces by more than this is
# refused. Small on purpose: on a few hundred held-out calls AUROC moves by a few hundredths between
# draws, so this refuses a model that is clearly worse, not one that merely failed to improve.
PROMOTION_AUROC_TOLERANCE = 0.01


def heldout_regression(version: str, card: dict, replaced: tuple[str, dict],
                       tolerance: float = PROMOTION_AUROC_TOLERANCE) -> str | None:
    """Why risk ``version`` must not replace ``replaced`` (version, card), or None.

    Judged on the comparison ``callradar train risk`` records in the card
    (``heldout_comparison``): the new model and the model then current, on the same
    held-out calls. None when the card records no comparison (a model from elsewhere)
    or it has no AUROC. Refused when the comparison was made against another model
    than the one it would replace, since it says nothing about that one.
    """
    comp = card.get("heldout_comparison")
    if not isinstance(comp, dict):
        return None
    base, new_auc = comp.get("baseline") or {}, (comp.get("new") or {}).get("auroc")
    base_auc = (comp.get("baseline_metrics") or {}).get("auroc")
    if not isinstance(new_auc, (int, float)) or not isinstance(base_auc, (int, float)):
        return None
    replaced_version, replaced_card = replaced
    same = (base.get("model_sha256") == replaced_card.get("sha256") if base.get("model_sha256")
            and replaced_card.get("sha256") else base.get("model_version") == replaced_card.get("version"))
    if not same:
        return (f"risk {version} was compared on its held-out calls with risk {base.get('registry_version', '?')} "
                f"({base.get('model_version', '?')}), not with risk {replaced_version} "
                f"({replaced_card.get('version', '?')}), which it would replace; retrain it while "
                f"{replaced_version} is current (callradar train risk) to compare the two")
    if new_auc < base_auc - tolerance:
        held = comp.get("heldout") or {}
        return (f"risk {version} did worse than risk {replaced_version} on its held-out calls: call AUROC "
                f"{new_auc:.3f} against {base_auc:.3f}, lower by {base_auc - new_auc:.3f} (more than the "
                f"{tolerance:g} allowed; {held.get('calls', '?')} calls, {held.get('escalated', '?')} escalated)")
    return None


def resolve_versions(registry: Registry | None, pins: dict[str, str] | None = None) -> dict[str, tuple[str, Path]]:
    """kind -> (version, folder) for what should run: pins (a version or a folder) over the registry."""
    out = {}
    for kind in KINDS:
        pin = (pins or {}).get(kind)
        if pin and not VERSION_RE.match(pin) and pin not in (BUILTIN, LOCAL):
            folder = Path(pin)
            validate(kind, folder)
            out[kind] = (f"dir:{folder.resolve().name}", folder)
        elif pin:
            if registry is None and pin != BUILTIN:
                raise RegistryError(f"no registry to take {kind} version {pin!r} from")
            out[kind] = (pin, registry.path(kind, pin) if registry else builtin_path(kind))
        elif registry is None:
            out[kind] = (BUILTIN, builtin_path(kind))
        else:
            out[kind] = registry.resolve(kind)
    return out


def rules_path(registry: Registry | None) -> Path:
    """``keywords.yaml`` in the registry root replaces the bundled rules."""
    if registry is not None and (registry.root / "keywords.yaml").exists():
        return registry.root / "keywords.yaml"
    return DEFAULT_RULES


def load_model_set(registry: Registry | None, *, encoder_model: str, pins: dict[str, str] | None = None,
                   sentiment_hf: HFSpec | None = None, intent_hf: HFSpec | None = None) -> ModelSet:
    """Resolve all three kinds once, check they belong together, then load them.

    ``registry`` None: the bundled models. ``pins`` (kind -> version or folder)
    override the registry for offline scoring of a candidate. A Hugging Face model
    in ``sentiment_hf`` / ``intent_hf`` replaces that head (its version reads
    ``hf:<name>``). A risk model trained on other heads than these is refused
    (ModelSetError), unless the registry's promotion in force was forced, which
    is logged as a warning.
    """
    resolved = resolve_versions(registry, pins)
    versions = {kind: version for kind, (version, _) in resolved.items()}
    hf = {"sentiment": sentiment_hf, "intent": intent_hf}
    for kind, spec in hf.items():
        if spec:
            versions[kind] = f"hf:{spec.short_name}"
    problem = model_set_mismatch(
        (versions["risk"], read_card(resolved["risk"][1])),
        {k: (versions[k], None if hf[k] else read_card(resolved[k][1])) for k in HEADS},
    )
    if problem:
        forced = registry is not None and any(not (pins or {}).get(k) and registry.forced(k) for k in KINDS)
        if not forced:
            raise ModelSetError(problem)
        log.warning("running a model set promoted with --force: %s", problem)
    scorer = build_text_scorer(
        encoder_model,
        resolved["sentiment"][1],
        resolved["intent"][1],
        rules_path(registry),
        sentiment_hf,
        intent_hf,
    )
    return ModelSet(scorer, RiskModel.load(resolved["risk"][1]), versions)


def load_risk_model(registry: Registry | None = None) -> RiskModel:
    """The risk model the score stage runs: the registry's current version (bundled when ``registry`` is None).

    Nothing promoted: a model folder placed at ``<root>/risk`` if there is one, else the bundled model.
    """
    return RiskModel.load(registry.resolve("risk")[1] if registry is not None else DEFAULT_RISK_DIR)
