"""``graphwire demo``: the whole loop on bundled data, in about a minute on two CPU cores.

Watts-Strogatz wiring on scikit-learn's digits: train with sigmoid edge gates, write the gates
back onto the graph, prune to the strongest half of the edges (by their share of each node's input), recompile the smaller network
(parameters carried over), re-estimate its BatchNorm statistics, fine-tune briefly, and write graph.json, graph.dot, wiring.svg,
pruned.svg, history.json (every gate, every few steps), evolution.png (the gates over training) and wiring.html (the
wiring with a slider over training) into the output folder.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch

from . import data, generators, io, models, prune
from .errors import ParameterError, RenderError
from .io._atomic import atomic_write
from .train import default_device, evaluate, fit, recalibrate_bn

__all__ = ["main", "run"]


def run(out: str | Path = "graphwire-demo", *, epochs: int = 12, finetune: int = 3, nodes: int = 16,
        width: int = 32, seed: int = 0, device: str | None = None, progress: bool = True,
        snapshot_every: int = 4, log=print) -> dict:
    """Run the demo and return its report (also written to ``out/report.json``)."""
    torch.manual_seed(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device) if device else default_device()
    t0 = time.perf_counter()
    split = data.digits(seed=seed)
    train = data.loader(split.x_train, split.y_train, 64, seed=seed)
    test = data.loader(split.x_test, split.y_test, 256, shuffle=False)

    G = generators.watts_strogatz(nodes, 4, 0.75, seed=seed)
    model = models.wired_conv2d(G, in_channels=1, num_classes=split.num_classes, channels=width, wiring="sigmoid")
    log(f"graph: Watts-Strogatz WS({nodes}, 4, 0.75), {G.number_of_nodes()} nodes, {G.number_of_edges()} edges; "
        f"device {dev}")
    history = fit(model, train, epochs, lr=0.05, wiring_lr=5.0, device=dev, progress=progress,
                  desc="train (sigmoid gates)", snapshot_every=snapshot_every)
    full = evaluate(model, test, dev)
    learned = model.write_back()
    # Rank by share, not raw gate: BatchNorm after each node's sum makes a gate on a node's only
    # input untrainable (scale-invariant), so raw gates would cut such edges at random.
    pruned_graph = prune(learned, keep=0.5, attr="share", ensure_path=True)
    small = model.recompile(pruned_graph, wiring="static").to(dev)
    pruned_acc = evaluate(small, test, dev)
    recalibrate_bn(small, train)
    recal = evaluate(small, test, dev)
    fit(small, train, finetune, lr=0.01, device=dev, progress=progress, desc="fine-tune (pruned)")
    tuned = evaluate(small, test, dev)

    report = {
        "data": "scikit-learn digits (8x8), 1348 train / 449 test",
        "graph": {"nodes": G.number_of_nodes(), "edges": G.number_of_edges()},
        "pruned_graph": {"nodes": pruned_graph.number_of_nodes(), "edges": pruned_graph.number_of_edges()},
        "accuracy": {"full": full["acc"], "pruned": pruned_acc["acc"], "pruned_bn_recalibrated": recal["acc"],
                     "pruned_finetuned": tuned["acc"]},
        "parameters": {"full": sum(p.numel() for p in model.parameters()),
                       "pruned": sum(p.numel() for p in small.parameters())},
        "device": str(dev),
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
                              title=f"sigmoid gates of the {len(history.edges)} edges during training")
        pictures.append("evolution.png")
    except (ImportError, ParameterError) as exc:  # matplotlib is an optional extra
        log(f"note: no evolution.png ({exc})")
    if pictures:
        report["pictures"] = pictures
    report["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write(out / "report.json", json.dumps(report, indent=2) + "\n")

    a, p = report["accuracy"], report["parameters"]
    log(f"accuracy   full {a['full']:.3f} | pruned {a['pruned']:.3f} | pruned, BN recalibrated "
        f"{a['pruned_bn_recalibrated']:.3f} | pruned+fine-tuned {a['pruned_finetuned']:.3f}")
    log(f"parameters full {p['full']:,} | pruned {p['pruned']:,} "
        f"({report['pruned_graph']['edges']} of {report['graph']['edges']} edges, "
        f"{report['pruned_graph']['nodes']} of {report['graph']['nodes']} nodes)")
    log(f"wrote {', '.join(sorted(x.name for x in out.iterdir()))} to {out}/ in {report['seconds']} s")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="graphwire demo", description=__doc__.splitlines()[0])
    p.add_argument("-o", "--out", default="graphwire-demo", help="output folder (default: graphwire-demo)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--finetune", type=int, default=3)
    p.add_argument("--nodes", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--fast", action="store_true", help="a few epochs only (for tests)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    epochs, finetune = (1, 1) if a.fast else (a.epochs, a.finetune)
    run(a.out, epochs=epochs, finetune=finetune, nodes=a.nodes, seed=a.seed, device=a.device,
        progress=not a.no_progress)
    return 0
