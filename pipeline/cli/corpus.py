"""``callradar corpus build``: the semi-synthetic labelled-call corpus the risk model trains on.

How the corpus is made is training/corpus.py; this is its command line.
"""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("corpus", help="build the semi-synthetic labelled-call corpus for the risk model")
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    b = sub.add_parser(
        "build", help="assemble Bitext calls and transcribe simulator calls into train/test Parquet",
        description="Assemble labelled calls from real Bitext customer utterances (calm and escalating) and "
        "simulator calls transcribed by the real Whisper model; write train.parquet, test.parquet (held out "
        "by call) and corpus_card.md. Deterministic for a seed.",
    )
    b.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder (default: <state dir>/corpus)")
    b.add_argument("--calls", type=int, default=1000, metavar="N", help="Bitext-assembled calls (default 1000)")
    b.add_argument("--sim-calls", type=int, default=32, metavar="M",
                   help="simulator calls through Whisper (default 32, about 10 s each on 2 cores; 0: none)")
    b.add_argument("--seed", type=int, default=0, metavar="S")
    b.add_argument("--bitext", type=Path, default=None, metavar="CSV",
                   help="Bitext customer-support CSV (default: ../shared/data/intents/bitext/...)")
    b.add_argument("--escalated-fraction", type=float, default=0.5, help="share of escalated Bitext calls (default 0.5)")
    b.add_argument("--test-fraction", type=float, default=0.25, help="share of Bitext calls held out (default 0.25)")
    b.set_defaults(func=_run_build)


def _run_build(args) -> int:
    from callradar.pipeline.errors import UserError
    from callradar.pipeline.settings import load_settings
    from callradar.training.corpus import build_corpus, load_intent_card

    if args.calls < 0 or args.sim_calls < 0:
        raise UserError("--calls and --sim-calls must be >= 0")
    if not 0 < args.escalated_fraction < 1 or not 0 < args.test_fraction < 1:
        raise UserError("--escalated-fraction and --test-fraction must be between 0 and 1")
    settings = load_settings()
    out = args.out or settings.state_dir / "corpus"
    info = build_corpus(out, args.calls, args.seed, sim_calls=args.sim_calls, bitext_path=args.bitext,
                        escalated_fraction=args.escalated_fraction, test_fraction=args.test_fraction,
                        settings=settings, intent_card=load_intent_card(settings))
    tr, te = info["stats"]["train"], info["stats"]["test"]
    print(f"wrote {out}: train {tr['calls']} calls, test {te['calls']} calls ({info['build_seconds']} s); "
          f"card: {out / 'corpus_card.md'}")
    return 0
