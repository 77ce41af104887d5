"""``callradar models list|add|promote|rollback``: the model registry from the command line.

The registry itself (layout, safety checks, the Python API that ``callradar
train`` calls) is models/registry.py. Running workers pick up a promotion within
CALLRADAR_MODELS_RELOAD_S seconds, without a restart.

A risk model is fitted on the scores of particular sentiment and intent heads
(its card records which), so a promotion or roll back that would serve it with
other heads is refused, naming both, unless ``--force`` is given; a forced one is
logged and marked in the registry's history. A risk model whose card records a
held-out comparison (``callradar train risk``) is also refused when it did worse
there than the model it would replace; ``--force`` overrides that too, logged and
noted in the history.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from callradar.models.types import MODEL_KINDS as KINDS

log = logging.getLogger(__name__)


FORCE_HELP = ("even if the risk model would then run with text heads it was not trained on, or did worse than "
              "the model it replaces on its held-out calls (logged, and marked in the history)")


def register(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list, add, promote and roll back model versions",
        description="Versioned models (risk, sentiment, intent) under CALLRADAR_MODELS_DIR "
        "(default <state dir>/models). 'builtin' is the model shipped with callradar; it runs "
        "while nothing is promoted. Running score workers switch to a promoted version within "
        "CALLRADAR_MODELS_RELOAD_S seconds.",
    )
    p.add_argument("--models", metavar="DIR", type=Path, help="registry root (default CALLRADAR_MODELS_DIR)")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    ls = actions.add_parser("list", help="versions per kind, their metrics, which is current")
    ls.add_argument("kind", nargs="?", choices=KINDS, help="only this kind")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.add_argument("--history", action="store_true", help="also show adds, promotions and roll-backs")
    add = actions.add_parser("add", help="copy a model folder in as the next version (checked first)")
    add.add_argument("kind", choices=KINDS)
    add.add_argument("folder", type=Path)
    add.add_argument("--note", default="", help="why, for the history")
    add.add_argument("--promote", action="store_true", help="promote it too")
    add.add_argument("--force", action="store_true", help=FORCE_HELP)
    pr = actions.add_parser("promote", help="make a version (or a model folder, added first) current")
    pr.add_argument("kind", choices=KINDS)
    pr.add_argument("version", help="vN, builtin, or a model folder to add and promote")
    pr.add_argument("--note", default="", help="why, for the history")
    pr.add_argument("--force", action="store_true", help=FORCE_HELP)
    rb = actions.add_parser("rollback", help="undo the latest promotion of a kind")
    rb.add_argument("kind", choices=KINDS)
    rb.add_argument("--note", default="", help="why, for the history")
    rb.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=_run, _parser=p)


def _run(args) -> int:
    from callradar.models.registry import Registry, RegistryError
    from callradar.pipeline.errors import UserError
    from callradar.pipeline.settings import load_settings

    if not args.action:
        args._parser.print_help()
        return 2
    overrides = {"models_dir": args.models} if args.models else {}
    settings = load_settings(**overrides)
    registry = Registry(settings.models_root)
    try:
        if args.action == "list":
            return _list(registry, [args.kind] if args.kind else list(KINDS), args.json, args.history)
        if args.action == "add":
            version = registry.add(args.kind, args.folder, note=args.note)
            print(f"added {args.folder} as {args.kind} {version}")
            if args.promote:
                _check_head_fits_encoder(settings, registry, args.kind, version)
                forced = _check_model_set(settings, registry, args.kind, version, args.force)
                worse = _check_heldout(registry, args.kind, version, args.force)
                registry.promote(args.kind, version, note=_note(args.note, forced, worse), forced=bool(forced))
                print(f"promoted {args.kind} {version}")
            return 0
        if args.action == "promote":
            version = args.version
            folder = Path(version)
            if folder.is_dir() and version not in registry.numbered(args.kind) + ["builtin", "local"]:
                version = registry.add(args.kind, folder, note=args.note)
                print(f"added {folder} as {args.kind} {version}")
            _check_head_fits_encoder(settings, registry, args.kind, version)
            before = registry.current(args.kind)
            forced = _check_model_set(settings, registry, args.kind, version, args.force) if before != version else None
            worse = _check_heldout(registry, args.kind, version, args.force) if before != version else None
            registry.promote(args.kind, version, note=_note(args.note, forced, worse), forced=bool(forced))
            print(f"{args.kind} {version} is already current" if before == version
                  else f"promoted {args.kind} {version} (was {before})")
            return 0
        before = registry.current(args.kind)
        forced = _check_model_set(settings, registry, args.kind, registry.rollback_target(args.kind), args.force)
        now = registry.rollback(args.kind, note=_note(args.note, forced), forced=bool(forced))
        print(f"rolled {args.kind} back from {before} to {now}")
        return 0
    except RegistryError as exc:
        raise UserError(str(exc)) from None


def _check_head_fits_encoder(settings, registry, kind: str, version: str) -> None:
    """A text head only works with the encoder it was trained on: load it as the score stage would.

    The registry checks the files; this catches a head trained on another
    encoder, which would otherwise fail only when a worker reloads it.
    """
    import sys

    from callradar.models.registry import RegistryError
    from callradar.models.sentiment import ArtifactError
    from callradar.models.text_scorer import TextScorer

    if kind == "risk" or version == "builtin":
        return
    print(f"checking {kind} {version} against encoder {settings.encoder_model} ...", file=sys.stderr, flush=True)
    folders = {k: registry.resolve(k)[1] for k in ("sentiment", "intent")}
    folders[kind] = registry.path(kind, version)
    try:
        TextScorer.load(settings.encoder_model, folders["sentiment"], folders["intent"])
    except ArtifactError as exc:
        raise RegistryError(f"{kind} {version} does not work with the encoder the score stage runs: {exc}") from None


def _check_model_set(settings, registry, kind: str, version: str, force: bool) -> str | None:
    """Refuse a change after which the risk model would run with heads it was not trained on.

    Returns None when the set belongs together; the mismatch when ``force`` overrides it.
    A head replaced by a Hugging Face model (CALLRADAR_<KIND>_MODEL) is not checked.
    """
    from callradar.models.registry import HEADS, model_set_mismatch, read_card

    def card(k: str, v: str) -> dict:
        return read_card(registry.path(k, v))

    chosen = {k: registry.current(k) for k in KINDS}
    chosen[kind] = version
    heads = {k: (chosen[k], None if getattr(settings, f"{k}_model") else card(k, chosen[k])) for k in HEADS}
    problem = model_set_mismatch((chosen["risk"], card("risk", chosen["risk"])), heads)
    return _refuse_unless_forced(problem, force, "do it anyway", f"{kind} {version}", "the model-set check")


def _check_heldout(registry, kind: str, version: str, force: bool) -> str | None:
    """Refuse a risk model that did worse on its held-out calls than the model it would replace.

    Returns None when it did no worse (or its card records no comparison); the reason when
    ``force`` overrides it. The registry's pointer is not marked forced for this: that mark
    lets a mismatched model set load, which this override has nothing to do with.
    """
    from callradar.models.registry import heldout_regression, read_card
    from callradar.training.evaluate import operating_point_advice

    if kind != "risk" or version == "builtin":
        return None
    card = read_card(registry.path(kind, version))
    if not isinstance(card.get("heldout_comparison"), dict):
        print(f"note: risk {version} records no held-out comparison (not trained by `callradar train risk`); "
              "not checked against the current model", file=sys.stderr)
        return None
    replaced = registry.current(kind)
    problem = heldout_regression(version, card, (replaced, read_card(registry.path(kind, replaced))))
    worse = _refuse_unless_forced(problem, force, "promote it anyway", f"{kind} {version}", "the held-out comparison")
    advice = operating_point_advice(card["heldout_comparison"]) if problem is None else None
    if advice:  # not a refusal: the threshold is the floor's setting, not the model's
        print(f"note: risk {version}, {advice}", file=sys.stderr)
    return worse


def _refuse_unless_forced(problem: str | None, force: bool, override: str, what: str, check: str) -> str | None:
    """None when a check found no problem; else refused, or with ``force`` warned, logged and returned."""
    from callradar.models.registry import RegistryError

    if problem is None:
        return None
    if not force:
        raise RegistryError(f"refused: {problem}; pass --force to {override}")
    print(f"warning: forced: {problem}", file=sys.stderr)
    log.warning("forced %s past %s: %s", what, check, problem)
    return problem


def _note(note: str, *forced: str | None) -> str:
    """The history's note: the user's, and for a forced change what it overrode."""
    return "; ".join(filter(None, [note, *(f"forced: {f}" for f in forced if f)]))


def _list(registry, kinds: list[str], as_json: bool, history: bool) -> int:
    from callradar.models.registry import summary_metrics

    if as_json:
        doc = {"root": str(registry.root), "kinds": {}}
        for kind in kinds:
            doc["kinds"][kind] = {
                "current": registry.current(kind),
                "versions": [
                    {"version": v.version, "current": v.current, "path": str(v.path), "added": v.added,
                     "model": _model_name(v.card), "metrics": summary_metrics(v.card, limit=20),
                     **({"problem": v.problem} if v.problem else {})}
                    for v in registry.versions(kind)
                ],
                **({"history": registry.history(kind)} if history else {}),
            }
        print(json.dumps(doc, indent=2))
        return 0
    print(f"registry: {registry.root}")
    for kind in kinds:
        print(f"\n{kind} (current: {registry.current(kind)})")
        for v in registry.versions(kind):
            metrics = " ".join(f"{k}={_fmt(x)}" for k, x in summary_metrics(v.card, limit=3).items())
            detail = v.problem or " ".join(filter(None, [_model_name(v.card), metrics]))
            added = v.added[:16].replace("T", " ") if v.added else ("bundled" if v.version == "builtin" else "")
            print(f"  {'*' if v.current else ' '} {v.version:<8} {added:<16}  {detail}")
        if history:
            for h in registry.history(kind):
                extra = f" (was {h['previous']})" if h.get("previous") else ""
                note = f": {h['note']}" if h.get("note") else ""
                print(f"    {h.get('ts', '')}  {h.get('action', '?'):<8} {h.get('version', '?')}{extra}"
                      f"  {h.get('by', '')}{note}")
    return 0


def _model_name(card: dict) -> str:
    """The card's own name and version, e.g. 'risk prior-2' or 'callradar-sentiment'."""
    parts = [str(card[k]) for k in ("name", "version") if card.get(k)]
    if card.get("kind") in ("prior", "trained"):
        parts.append(f"({card['kind']})")
    return " ".join(parts)


def _fmt(x) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)
