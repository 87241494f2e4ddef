"""``graphwire search run|worker|report`` (mounted by :mod:`graphwire.cli`).

::

    graphwire search run cell --strategy evolution --trials 100 --epochs 3 --workers 2 --dir runs/x
    graphwire search run cell --objective tabular --strategy rl --trials 150 --dir runs/rl
    graphwire search worker --dir runs/x            # one more worker, from another shell or machine
    graphwire search report --dir runs/x [--dir runs/y ...] [-o out/] [--top 5]
    graphwire search retrain --dir runs/x --epochs 20 -o best.pt   # train the run's best architecture

Numbers are checked by graphwire (not argparse), so a bad value is one error line and exit 2;
``run`` exits 1 when no trial completed.
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    s = sub.add_parser("search", help="discrete architecture search over graphs (run, worker, report)")
    ss = s.add_subparsers(dest="search_command", metavar="SEARCH_COMMAND", parser_class=type(s))
    ss.required = True

    r = ss.add_parser("run", help="start or resume a search (rerun the same command to resume)")
    r.add_argument("space", help="macro, cell, generator, or module:function of a decorated space")
    r.add_argument("--strategy", default="evolution", help="random, evolution, rl, pnas or tpe (default evolution)")
    r.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a strategy option, e.g. population=20 (JSON values), repeatable")
    r.add_argument("--objective", default="train",
                   help="train (MNIST-1D), tabular (the bundled benchmark) or module:function (default train)")
    r.add_argument("--trials", default="20", help="finished trials to reach (default 20)")
    r.add_argument("--epochs", default=None, help="training epochs per trial")
    r.add_argument("--workers", default="1", help="worker processes (default 1: in this process)")
    r.add_argument("--dir", required=True, help="run directory (config, journal, graphs, logs)")
    r.add_argument("--storage", default=None,
                   help="storage URL (default: journal file in --dir; postgresql://... across machines)")
    r.add_argument("--lock", default="symlink", help="journal file lock: symlink, or open (NFSv3+ shared file systems)")
    r.add_argument("--pruner", default="none", help="Optuna pruner: none, sha or hyperband")
    r.add_argument("--seed", default="0")
    r.add_argument("--heartbeat", default="5", help="seconds between a worker's heartbeats (default 5)")
    r.add_argument("--grace", default="30", help="a RUNNING trial silent this long is failed and re-queued (30)")
    r.add_argument("--max-retry", default="3", help="how often one trial is re-queued after its worker died (3)")
    r.set_defaults(func=cmd_run)

    w = ss.add_parser("worker", help="add a worker to a run (same machine or one sharing its storage)")
    w.add_argument("--dir", required=True)
    w.add_argument("--id", default="0", help="worker number (seeds its own proposals)")
    w.add_argument("--max-idle", default="600", help="exit after this many idle seconds (600)")
    w.set_defaults(func=cmd_worker)

    p = ss.add_parser("report", help="best trials, their graphs (JSON+SVG), best-so-far and Pareto plots")
    p.add_argument("--dir", required=True, action="append", help="run directory (repeat to compare runs)")
    p.add_argument("-o", "--out", default=None, help="output folder (default: <first dir>/report)")
    p.add_argument("--top", default="5", help="how many best trials to list and draw (5)")
    p.add_argument("--no-svg", action="store_true", help="skip Graphviz drawings")
    p.set_defaults(func=cmd_report)

    t = ss.add_parser("retrain", help="train the best architecture of a run to completion")
    t.add_argument("--dir", required=True, help="run directory")
    t.add_argument("--trial", default=None, help="a trial number instead of the best one")
    t.add_argument("--epochs", default="20", help="training epochs (default 20)")
    t.add_argument("--seed", default="0")
    t.add_argument("-o", "--out", default=None, help="where to save the trained weights (default <dir>/retrain/)")
    t.set_defaults(func=cmd_retrain)


def _options(pairs: list[str]) -> dict:
    from ..errors import ParameterError

    out = {}
    for item in pairs:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ParameterError(f"--option must be KEY=VALUE, got {item!r}")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
        if isinstance(out[k], float) and out[k] != out[k]:
            raise ParameterError(f"--option {k}: must be a finite number, got {v!r}")
    return out


def cmd_run(args: argparse.Namespace) -> int:
    import sys

    from .checks import check_float, check_int
    from .runner import run

    summary = run(args.space, args.strategy, args.objective, trials=check_int("--trials", args.trials, lo=1),
                  epochs=None if args.epochs is None else check_int("--epochs", args.epochs, lo=1),
                  workers=check_int("--workers", args.workers, lo=1), dir=args.dir, storage=args.storage,
                  pruner=args.pruner, seed=check_int("--seed", args.seed, lo=0),
                  strategy_options=_options(args.option), heartbeat=check_float("--heartbeat", args.heartbeat),
                  grace=check_float("--grace", args.grace), lock=args.lock,
                  max_retry=check_int("--max-retry", args.max_retry, lo=0))
    best = summary["best"]
    if best is None:
        print(f"search finished in {summary['seconds']} s with no completed trial "
              f"({summary['counts']['failed']} failed; see `graphwire search report --dir {args.dir}`)", file=sys.stderr)
        return 1
    print(f"search finished in {summary['seconds']} s: best value {best[0]:.4f} (trial {best[1]})")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from .checks import check_float, check_int
    from .runner import worker_main

    return worker_main(args.dir, worker_id=check_int("--id", args.id, lo=0),
                       max_idle=check_float("--max-idle", args.max_idle, lo=0.0))


def cmd_report(args: argparse.Namespace) -> int:
    from .checks import check_int
    from .report import report

    out = report(args.dir, out=args.out, top=check_int("--top", args.top, lo=1), svg=not args.no_svg)
    print(out["text"])
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    from .checks import check_int
    from .report import retrain

    out = retrain(args.dir, trial=None if args.trial is None else check_int("--trial", args.trial, lo=0),
                  epochs=check_int("--epochs", args.epochs, lo=1), seed=check_int("--seed", args.seed, lo=0),
                  out=args.out)
    print(f"retrained trial {out['trial']} ({out['hash'][:12]}) for {out['epochs']} epochs: "
          f"final value {out['value']:.4f}; wrote {out['weights']} and {out['graph']}")
    return 0
