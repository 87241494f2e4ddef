"""``graphwire search report``: the best trials (table, graphs as JSON and SVG), best-so-far
against trials (one line per run) and accuracy against parameters with the Pareto front."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import GraphwireError, ParameterError
from ..io import atomic_write


def _trials(run_dir):
    from .runner import Run

    r = Run(run_dir)
    return r.cfg, r, r.study.get_trials(deepcopy=False)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated (fewer parameters and higher accuracy are better)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def report(dirs: str | os.PathLike | Sequence, *, out: str | os.PathLike | None = None, top: int = 5,
           svg: bool = True) -> dict:
    """Write the report of one or more runs to ``out``; returns ``{"text", "best", "files"}``."""
    dirs = [dirs] if isinstance(dirs, (str, os.PathLike)) else list(dirs)
    if not dirs:
        raise ParameterError("report: give at least one run directory")
    out = Path(out) if out is not None else Path(dirs[0]) / "report"
    out.mkdir(parents=True, exist_ok=True)
    lines, files, runs = [], [], []
    for d in dirs:
        cfg, run, trials = _trials(d)
        done = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
        c = run.counts(trials)
        label = cfg["strategy"] if Path(d).name == cfg["strategy"] else f"{cfg['strategy']} ({Path(d).name})"
        runs.append((label, trials))
        lines.append(f"== {d}: {cfg['strategy']} on {cfg['space']['kind']}, objective {cfg['objective']['kind']}: "
                     f"{c['complete']} complete, {c['pruned']} pruned, {c['failed']} failed")
        lines.append(f"{'rank':>4} {'trial':>5} {'value':>7} {'params':>8}  {'hash':<12} how")
        best = sorted(done, key=lambda t: t.value, reverse=True)[:top]
        for rank, t in enumerate(best, 1):
            meta = t.user_attrs
            how = str(meta.get("op", "?")) + (f" of #{meta['parent']}" if "parent" in meta else "")
            lines.append(f"{rank:>4} {t.number:>5} {t.value:>7.4f} {meta.get('parameters', '-')!s:>8}  "
                         f"{str(meta.get('hash', ''))[:12]:<12} {how}")
            G = run.graph(t.params)
            stem = out / f"{Path(d).name}-best{rank}-trial{t.number}"
            from ._graphio import graph_to_text

            atomic_write(f"{stem}.json", graph_to_text(G))
            files.append(f"{stem}.json")
            if svg:
                try:
                    from ..io import render

                    render(run.space.network(G), f"{stem}.svg")
                    files.append(f"{stem}.svg")
                except GraphwireError as e:
                    lines.append(f"     (no SVG: {e})")
                    svg = False
        fails = [t for t in trials if t.state.name == "FAIL"]
        retried = {t.system_attrs.get("failed_trial") for t in trials}
        for t in fails[:3]:
            why = t.user_attrs.get("fail_reason") or ("stale (its worker stopped); retried" if t.number in retried
                                                       else "no reason recorded")
            lines.append(f"     failed trial {t.number}: {str(why)[:120]}")
        stopped = run.stopped()
        if stopped and stopped != "budget":
            lines.append(f"     the run stopped early: {stopped}")
        upd = Path(d) / "updates.jsonl"
        if upd.exists():
            entries = [json.loads(x) for x in upd.read_text().splitlines() if x.strip()]
            if entries:
                lines.append(f"     strategy updates: {len(entries)}; last: "
                             f"{ {k: v for k, v in entries[-1].items() if k not in ('at', 'strategy')} }")
    files += _plots(runs, out)
    text = "\n".join(lines)
    atomic_write(out / "report.txt", text + "\n")
    files.append(str(out / "report.txt"))
    return {"text": text + "\n" + "\n".join(f"wrote {f}" for f in files), "files": files}


def _plots(runs, out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for label, trials in runs:
        xs, ys, best = [], [], None
        pts = []
        for t in sorted(trials, key=lambda t: t.number):
            if t.state.name == "COMPLETE" and t.value is not None:
                best = t.value if best is None else max(best, t.value)
                params = t.user_attrs.get("parameters")
                if params is not None:
                    pts.append((params, t.value))
            if best is not None:
                xs.append(t.number + 1)
                ys.append(best)
        a1.step(xs, ys, where="post", label=label)
        if pts:
            line = a2.scatter([p[0] for p in pts], [p[1] for p in pts], s=10, alpha=0.5, label=label)
            front = [pts[i] for i in pareto_front(pts)]
            a2.step([p[0] for p in front], [p[1] for p in front], where="post", color=line.get_facecolor()[0])
    a1.set_xlabel("trials")
    a1.set_ylabel("best value so far")
    a1.legend()
    a2.set_xlabel("parameters")
    a2.set_ylabel("value")
    a2.set_xscale("log")
    a2.set_title("accuracy vs parameters (lines: Pareto fronts)")
    fig.tight_layout()
    path = out / "search.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [str(path)]


def retrain(run_dir: str | os.PathLike, *, trial: int | None = None, epochs: int = 20, seed: int = 0,
            out: str | os.PathLike | None = None, objective=None) -> dict:
    """Train the best (or the given) trial's architecture of a run for ``epochs`` epochs with the
    run's ``train`` objective (same data, width and learning rate); write its weights
    (``state_dict``) and graph JSON. Returns what was written and the final value."""
    import torch

    from ._graphio import graph_to_text
    from .checks import check_int
    from .objective import TrainObjective
    from .runner import Run

    epochs = check_int("epochs", epochs, lo=1, hi=100_000)
    run = Run(run_dir, objective=objective)
    try:
        if not isinstance(run.objective, TrainObjective):
            raise ParameterError(f"retrain needs a run with the train objective; {run_dir} used "
                                 f"{run.cfg['objective']['kind']!r} (nothing to train)")
        trials = run.study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
        if trial is None:
            if not done:
                raise ParameterError(f"{run_dir}: no completed trial to retrain")
            t = max(done, key=lambda t: t.value)
        else:
            match = [t for t in trials if t.number == trial and t.params]
            if not match:
                raise ParameterError(f"{run_dir}: no trial {trial} with an architecture "
                                     f"(trials are 0..{len(trials) - 1})")
            t = match[0]
        G = run.graph(t.params)
        curve: list[float] = []
        model, value = run.objective.train(G, lambda v, e: curve.append(v), space=run.space, seed=seed, epochs=epochs)
        dest = Path(out) if out is not None else Path(run_dir) / "retrain"
        dest.mkdir(parents=True, exist_ok=True)
        stem = dest / f"trial{t.number}"
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        atomic_write(f"{stem}.pt", buf.getvalue())
        atomic_write(f"{stem}.json", graph_to_text(run.space.network(G)))
        atomic_write(f"{stem}-curve.json", json.dumps({"trial": t.number, "epochs": epochs, "seed": seed,
                                                        "val_acc": curve, "search_value": t.value}, indent=1))
    finally:
        run.close()
    return {"trial": t.number, "hash": t.user_attrs.get("hash", ""), "epochs": epochs, "value": value,
            "curve": curve, "weights": f"{stem}.pt", "graph": f"{stem}.json"}
