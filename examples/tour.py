"""The graphwire tour: generate -> compile -> train -> write back -> prune -> recompile -> export -> render.

    python examples/tour.py [--fast] [-o OUT]
"""

import argparse
from pathlib import Path

import torch

import graphwire as gw
from graphwire import data, models, train


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="three epochs (for tests)")
    p.add_argument("-o", "--out", default="tour-out")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    G = gw.generators.watts_strogatz(12, 4, 0.75, seed=0)             # a RandWire-style DAG
    split = data.digits(flat=True)                                      # bundled 8x8 digits as vectors
    net = models.wired_mlp(G, in_channels=64, num_classes=10, channels=32, wiring="sigmoid")       # one gate per edge
    loader = data.loader(split.x_train, split.y_train, 64)
    train.fit(net, loader, 3 if a.fast else 10, wiring_lr=5.0, progress=False)
    test = data.loader(split.x_test, split.y_test, 256, shuffle=False)
    acc = train.evaluate(net, test)["acc"]

    learned = net.write_back()                                          # gates -> edge 'weight', 'share'
    pruned = gw.prune(learned, keep=0.5, attr="share", ensure_path=True)
    small = net.recompile(pruned)                                       # parameters carried over by label
    train.recalibrate_bn(small, loader)
    train.fit(small, loader, 1 if a.fast else 3, lr=0.01, progress=False)    # a short fine-tune
    small_acc = train.evaluate(small, test)["acc"]

    gw.io.to_json(learned, out / "learned.json")                        # schema v1, node-link JSON
    try:
        gw.io.render(learned, out / "learned.svg")                      # Graphviz 'dot'
    except gw.errors.RenderError as exc:
        print(exc)
    print(f"accuracy {acc:.3f} with {learned.number_of_edges()} edges; "
          f"{small_acc:.3f} after pruning to {pruned.number_of_edges()}")
    return acc, small_acc


if __name__ == "__main__":
    main()
