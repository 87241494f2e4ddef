"""``graphwire search run|worker|report`` (mounted by :mod:`graphwire.cli`).

::

    graphwire search run cell --strategy evolution --trials 100 --epochs 3 --workers 2 --dir runs/x
    graphwire search run cell --objective tabular --strategy rl --trials 150 --dir runs/rl
    graphwire search worker --dir runs/x            # one more worker, from another shell or machine
    graphwire search report --dir runs/x [--dir runs/y ...] [-o out/] [--top 5]
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
    r.add_argument("--trials", type=int, default=20, help="finished trials to reach (default 20)")
    r.add_argument("--epochs", type=int, default=None, help="training epochs per trial")
    r.add_argument("--workers", type=int, default=1, help="worker processes (default 1: in this process)")
    r.add_argument("--dir", required=True, help="run directory (config, journal, graphs, logs)")
    r.add_argument("--storage", default=None,
                   help="storage URL (default: journal file in --dir; postgresql://... across machines)")
    r.add_argument("--lock", default="symlink", choices=("symlink", "open"),
                   help="journal file lock (open: for NFSv3+ shared file systems)")
    r.add_argument("--pruner", default="none", choices=("none", "sha", "hyperband"), help="Optuna pruner")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--heartbeat", type=float, default=5.0, help="seconds between a worker's heartbeats")
    r.add_argument("--grace", type=float, default=30.0, help="a RUNNING trial silent this long is re-queued")
    r.set_defaults(func=cmd_run)

    w = ss.add_parser("worker", help="add a worker to a run (same machine or one sharing its storage)")
    w.add_argument("--dir", required=True)
    w.add_argument("--id", type=int, default=0, help="worker number (seeds its own proposals)")
    w.add_argument("--max-idle", type=float, default=600.0, help="exit after this many idle seconds")
    w.set_defaults(func=cmd_worker)

    p = ss.add_parser("report", help="best trials, their graphs (JSON+SVG), best-so-far and Pareto plots")
    p.add_argument("--dir", required=True, action="append", help="run directory (repeat to compare runs)")
    p.add_argument("-o", "--out", default=None, help="output folder (default: <first dir>/report)")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--no-svg", action="store_true", help="skip Graphviz drawings")
    p.set_defaults(func=cmd_report)


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
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import run

    summary = run(args.space, args.strategy, args.objective, trials=args.trials, epochs=args.epochs,
                  workers=args.workers, dir=args.dir, storage=args.storage, pruner=args.pruner, seed=args.seed,
                  strategy_options=_options(args.option), heartbeat=args.heartbeat, grace=args.grace, lock=args.lock)
    best = summary["best"]
    print(f"search finished in {summary['seconds']} s: best value {best[0]:.4f} (trial {best[1]})"
          if best else "search finished: no completed trial")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from .runner import worker_main

    return worker_main(args.dir, worker_id=args.id, max_idle=args.max_idle)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import report

    out = report(args.dir, out=args.out, top=args.top, svg=not args.no_svg)
    print(out["text"])
    return 0
