"""``graphwire demo``: the whole loop on bundled data, in about 20 s on two CPU cores.

A Watts-Strogatz wired network on scikit-learn's 8x8 digits learns one sigmoid gate per edge
(``carry=True``, so gates can close behind each node's BatchNorm, with a push towards 0).
The demo writes the gates back onto the graph, prunes to the edges with the largest learned
gates, recompiles the smaller network (parameters carried over), re-estimates its BatchNorm
statistics and fine-tunes it. As a control it fine-tunes, the same way, random wirings with as
many edges (all on an input -> output path). It writes graph.json, pruned.json, graph.dot,
wiring.svg, pruned.svg, history.json, evolution.png, wiring.html and report.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from . import data, generators, io, models, prune
from .errors import ParameterError, RenderError
from .io._atomic import atomic_write
from .train import evaluate, fit, recalibrate_bn
from .train.loop import resolve_device

__all__ = ["main", "multi_input_nodes", "random_wiring", "run"]

#: The sigmoid wiring's settings in the demo, chosen with benchmarks/gates.py: gates that can close
#: behind BatchNorm (``carry``), starting open (logit 3, gate 0.95), pushed towards 0 (``penalty``).
GATES = {"carry": True, "init": 3.0, "penalty": 0.3}
#: Training batch size: 128 halves the optimizer steps of 64 (small nets are step-overhead bound).
BATCH = 128


def multi_input_nodes(G) -> int:
    """How many non-output nodes of ``G`` keep two or more inputs (0 means the wiring is a chain or a tree)."""
    return sum(1 for n, d in G.nodes(data=True) if d.get("role") != "output" and G.in_degree(n) >= 2)


def random_wiring(G, edges: int, *, seed: int, tries: int = 200):
    """A random pruning of ``G`` keeping ``edges`` edges, all on an input -> output path: the control
    for a learned pruning of the same size. Edges are added in a random order until the part on
    input -> output paths has ``edges`` edges (the draw closest to it when no order hits it)."""
    import random

    from .transforms.pruning import remove_dead_nodes

    rng = random.Random(seed)
    all_edges = list(G.edges)
    best = None
    for _ in range(tries):
        order = rng.sample(all_edges, len(all_edges))
        H = G.copy()
        H.remove_edges_from(all_edges)
        for e in order:
            H.add_edge(*e, **G.edges[e])
            live, _ = remove_dead_nodes(H)
            if live.number_of_edges() >= edges:
                break
        gap = live.number_of_edges() - edges
        if best is None or abs(gap) < abs(best[0]):
            best = (gap, live)
        if gap == 0:
            break
    return best[1]


def _device(device: str | None) -> torch.device:
    """The torch device for ``--device`` (a GraphwireError naming the value when unusable)."""
    return resolve_device(device, name="--device")


@contextmanager
def _threads(n: int | None):
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _count(name: str, value, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ParameterError(f"--{name} must be an integer >= {least}, got {value!r}")
    return value


def run(out: str | Path = "graphwire-demo", *, epochs: int = 10, finetune: int = 2, nodes: int = 16,
        width: int = 32, seed: int = 0, device: str | None = None, progress: bool = True,
        snapshot_every: int = 4, keep: float = 0.5, controls: int = 3, penalty: float = GATES["penalty"],
        threads: int | str | None = "auto", log=print) -> dict:
    """Run the demo and return its report (also written to ``out/report.json``).

    ``threads``: torch CPU threads for the whole demo ("auto": one on the CPU unless you set a
    count with ``OMP_NUM_THREADS``/``torch.set_num_threads``, see :func:`graphwire.train.fit`).
    """
    _count("epochs", epochs, 1)
    _count("finetune", finetune, 0)
    _count("nodes", nodes, 5)
    _count("controls", controls, 0)
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
        raise ParameterError(f"--keep must be a fraction in (0, 1], got {keep!r}")
    dev = _device(device)
    from .train.loop import _fit_threads

    n_threads = _fit_threads(threads, torch.nn.Module(), dev)  # the demo's nets are all small
    with _threads(n_threads) as used:
        return _run(Path(out), epochs, finetune, nodes, width, seed, dev, progress, snapshot_every, keep,
                    controls, penalty, used, log)


def _tune(model, graph, train, test, finetune: int, dev, progress: bool, desc: str) -> dict:
    """Recompile ``model`` on ``graph`` (the same gates, their values and every weight carried over),
    re-estimate BatchNorm, fine-tune: the accuracies before and after."""
    with warnings.catch_warnings():  # a random wiring may add an input to a node: fresh parameters
        warnings.simplefilter("ignore", UserWarning)
        small = model.recompile(graph, wiring="sigmoid", carry=True).to(dev)
    acc = {"pruned": evaluate(small, test, dev)["acc"]}
    recalibrate_bn(small, train)
    acc["pruned_bn_recalibrated"] = evaluate(small, test, dev)["acc"]
    if finetune:
        fit(small, train, finetune, lr=0.01, device=dev, progress=progress, desc=desc, threads=None)
        # BatchNorm's running averages over a couple of epochs are noisy: estimate them once more
        recalibrate_bn(small, train)
    acc["pruned_finetuned"] = evaluate(small, test, dev)["acc"]
    acc["parameters"] = sum(p.numel() for p in small.parameters())
    return acc


def _run(out: Path, epochs, finetune, nodes, width, seed, dev, progress, snapshot_every, keep, controls,
         penalty, used_threads, log) -> dict:
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    split = data.digits(seed=seed)
    train = data.loader(split.x_train, split.y_train, BATCH, seed=seed)
    test = data.loader(split.x_test, split.y_test, 256, shuffle=False)

    G = generators.watts_strogatz(nodes, 4, 0.75, seed=seed)
    model = models.wired_conv2d(G, in_channels=1, num_classes=split.num_classes, channels=width, wiring="sigmoid",
                                **dict(GATES, penalty=penalty))
    log(f"graph: Watts-Strogatz WS({nodes}, 4, 0.75), {G.number_of_nodes()} nodes, {G.number_of_edges()} edges; "
        f"device {dev}" + (f", {used_threads} torch thread{'s' * (used_threads != 1)}" if dev.type == "cpu" else ""))
    history = fit(model, train, epochs, lr=0.05, wiring_lr=5.0, device=dev, progress=progress,
                  desc="train (sigmoid gates)", snapshot_every=snapshot_every, threads=None)
    full = evaluate(model, test, dev)
    learned = model.write_back()
    gates = [d["weight"] for *_, d in learned.edges(data=True)]

    # Prune by the learned gate (``weight``): with carry=True every gate can close.
    budget = math.ceil(keep * G.number_of_edges() - 1e-9)
    pruned_graph = prune(learned, keep=keep, attr="weight", ensure_path=True)
    removed = pruned_graph.graph["graphwire"]["pruned"]["removed_nodes"]
    # where the edges went: the budget, the path guarantee, then the edges of nodes left off every path
    from .transforms.pruning import _strongest, _widest_paths

    weights = {(u, v): d["weight"] for u, v, d in learned.edges(data=True)}
    strongest = set(_strongest(list(learned.edges), weights, budget))
    for_path = len(_widest_paths(learned, weights) - strongest)
    with_dead = budget + for_path - pruned_graph.number_of_edges()
    ours = _tune(model, pruned_graph, train, test, finetune, dev, progress, "fine-tune (learned wiring)")
    n_edges = pruned_graph.number_of_edges()
    rand = []
    for c in range(controls):
        rg = random_wiring(learned, n_edges, seed=1000 * seed + c)
        acc = _tune(model, rg, train, test, finetune, dev, progress, f"fine-tune (random wiring {c + 1})")
        rand.append({"seed": 1000 * seed + c, "edges": rg.number_of_edges(), "nodes": rg.number_of_nodes(),
                     "multi_input_nodes": multi_input_nodes(rg), "pruned_finetuned": acc["pruned_finetuned"]})

    report = {
        "data": "scikit-learn digits (8x8), 1348 train / 449 test",
        "seed": seed,
        "graph": {"nodes": G.number_of_nodes(), "edges": G.number_of_edges()},
        "wiring": {"method": "sigmoid", **dict(GATES, penalty=penalty)},
        "gates": {"near_0": sum(g < 0.1 for g in gates), "near_1": sum(g > 0.9 for g in gates),
                  "between": sum(0.1 <= g <= 0.9 for g in gates)},
        "pruned_graph": {"nodes": pruned_graph.number_of_nodes(), "edges": n_edges,
                         "multi_input_nodes": multi_input_nodes(pruned_graph), "attr": "weight",
                         "keep": keep, "kept_by_value": budget, "added_for_a_path": for_path,
                         "removed_nodes": removed, "edges_removed_with_them": with_dead},
        "accuracy": {"full": full["acc"], "pruned": ours["pruned"],
                     "pruned_bn_recalibrated": ours["pruned_bn_recalibrated"],
                     "pruned_finetuned": ours["pruned_finetuned"]},
        "control": {"random_wirings": rand,
                    "mean_finetuned": statistics.mean(r["pruned_finetuned"] for r in rand) if rand else None},
        "parameters": {"full": sum(p.numel() for p in model.parameters()), "pruned": ours["parameters"]},
        "device": str(dev),
        "threads": used_threads,
        "history": {"snapshots": len(history.snapshots), "edges": len(history.edges),
                    "snapshot_every": snapshot_every},
    }
    io.to_json(learned, out / "graph.json")
    io.to_json(pruned_graph, out / "pruned.json")
    io.to_dot(learned, out / "graph.dot")
    history.save(out / "history.json")
    pictures: list[str] = []
    try:
        io.render(learned, out / "wiring.svg")
        io.render(pruned_graph, out / "pruned.svg")
        pictures += ["wiring.svg", "pruned.svg"]
    except RenderError as exc:  # the rest of the demo is still useful without Graphviz
        log(f"note: {exc}")
    with warnings.catch_warnings():  # without Graphviz the page uses its own layout (noted above)
        warnings.simplefilter("ignore", UserWarning)
        io.to_html(learned, history, out / "wiring.html", title="graphwire demo: sigmoid gates over training")
    pictures.append("wiring.html")
    try:
        from . import viz

        viz.plot_edge_history(history, path=out / "evolution.png",
                              title=f"the {len(history.edges)} learned gates during training")
        pictures.append("evolution.png")
    except (ImportError, ParameterError) as exc:  # matplotlib is an optional extra
        log(f"note: no evolution.png ({exc})")
    if pictures:
        report["pictures"] = pictures
    report["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write(out / "report.json", json.dumps(report, indent=2) + "\n")

    a, p, pg = report["accuracy"], report["parameters"], report["pruned_graph"]
    gs = report["gates"]
    log(f"gates      {gs['near_0']} near 0, {gs['near_1']} near 1, {gs['between']} between (of {len(gates)})")
    log(f"pruned     by the learned gate: kept the {budget} edges with the largest gates (of {G.number_of_edges()})"
        + (f", plus {for_path} to keep an input->output path" if for_path else "")
        + ((f"; {len(removed)} node(s) were then on no input->output path and went, taking {with_dead} "
            "kept edge(s) with them" if with_dead else f"; {len(removed)} node(s) lost every edge and went")
           if removed else "")
        + f" -> {pg['edges']} edges, {pg['nodes']} nodes; {pg['multi_input_nodes']} nodes keep >= 2 inputs")
    log(f"accuracy   full {a['full']:.3f} | pruned {a['pruned']:.3f} | pruned, BN recalibrated "
        f"{a['pruned_bn_recalibrated']:.3f} | pruned+fine-tuned {a['pruned_finetuned']:.3f}")
    if rand:
        m = report["control"]["mean_finetuned"]
        diff = 100 * (a["pruned_finetuned"] - m)
        verdict = "learned beats random" if diff > 0 else "learned does NOT beat random"
        log(f"control    {len(rand)} random wirings of {n_edges} edges, fine-tuned the same way: "
            + ", ".join(f"{r['pruned_finetuned']:.3f}" for r in rand)
            + f" (mean {m:.3f}); {verdict} by {diff:+.1f} points")
    log(f"parameters full {p['full']:,} | pruned {p['pruned']:,}")
    log(f"wrote {', '.join(sorted(x.name for x in out.iterdir()))} to {out}/ in {report['seconds']} s")
    return report


class _Help(argparse.HelpFormatter):
    """Plain help: each option's default after its text (not for on/off flags or unset options)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and action.option_strings and action.nargs != 0:
            text += f" (default: {action.default})"
        return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="graphwire demo", formatter_class=_Help,
        description="Train a Watts-Strogatz wired network with sigmoid edge gates on the bundled digits, "
                    "prune it by the learned gates, fine-tune it, compare with random wirings of the same "
                    "size, and write pictures of the wiring.")
    p.add_argument("-o", "--out", default="graphwire-demo", help="output folder")
    p.add_argument("--epochs", type=int, help="training epochs of the full network (default: 10; 3 with --fast)")
    p.add_argument("--finetune", type=int,
                   help="fine-tuning epochs of each pruned network (default: 2; 1 with --fast)")
    p.add_argument("--nodes", type=int, default=16, help="hidden nodes of the Watts-Strogatz graph")
    p.add_argument("--keep", type=float, default=0.5, help="fraction of edges to keep, by learned gate")
    p.add_argument("--controls", type=int, help="random wirings to compare with, 0 for none (default: 3; 1 with --fast)")
    p.add_argument("--seed", type=int, default=0, help="seed of the graph, the data split and the weights")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--threads", default="auto",
                   help="torch CPU threads: a number, or auto (one, unless OMP_NUM_THREADS is set)")
    p.add_argument("--fast", action="store_true",
                   help="a smoke test, about a third of the run: 3 epochs, 1 fine-tuning epoch, 1 control "
                        "(accuracies are then below the real run's); explicit options still win")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    a = p.parse_args(argv)
    threads: int | str = a.threads
    if a.threads != "auto":
        try:
            threads = int(a.threads)
        except ValueError:
            raise ParameterError(f"--threads must be a positive number or auto, got {a.threads!r}") from None
    fast = (3, 1, 1) if a.fast else (10, 2, 3)
    epochs, finetune, controls = (x if x is not None else d for x, d in zip((a.epochs, a.finetune, a.controls), fast))
    run(a.out, epochs=epochs, finetune=finetune, nodes=a.nodes, seed=a.seed, device=a.device, keep=a.keep,
        controls=controls, threads=threads, progress=not a.no_progress)
    return 0
