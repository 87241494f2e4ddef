"""DDW on the bundled digits: static vs static alpha (sigmoid) vs instance-aware routers (ddw)
(optionally also ddw with its open-edge penalty: ``--penalty``).

The same ResNet-style graph (stages are complete DAGs of residual blocks) is trained with each
wiring over several seeds. Reported: test accuracy (mean and std), parameters and FLOPs against
static, and for DDW the soft-vs-hard gap: accuracy with the training-time soft coefficients
against the hard thresholds, for both eval readings ("gate", our default, and the paper's
"alpha").

    python examples/ddw_digits.py [--seeds 3] [--epochs 15] [--fast] [-o OUT]
"""

import argparse
import json
import statistics
from pathlib import Path

import torch

import graphwire as gw
from graphwire import data, train
from graphwire.models import ddw_resnet


def soft_and_hard(model, loader):
    """Accuracy with soft (training-time) coefficients and with each hard eval reading."""
    wiring = model.wired.wiring
    model.eval()
    wiring.train()  # soft coefficients, BatchNorm still in eval mode
    soft = train.evaluate(model, loader)["acc"]
    wiring.eval()
    hard = {}
    saved = wiring.eval_weight
    for mode in ("gate", "alpha"):
        wiring.eval_weight = mode
        hard[mode] = train.evaluate(model, loader)["acc"]
    wiring.eval_weight = saved
    return soft, hard


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--layers", default="3,3")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--penalty", type=float, default=0.0,
                   help="add a 'ddw+penalty' row with this open-edge penalty (0: no such row)")
    p.add_argument("--fast", action="store_true", help="one seed, one epoch (for tests)")
    p.add_argument("-o", "--out", default="ddw-digits")
    a = p.parse_args(argv)
    seeds, epochs = (1, 1) if a.fast else (a.seeds, a.epochs)
    layers = [int(x) for x in a.layers.split(",")]
    split = data.digits()
    test = data.loader(split.x_test, split.y_test, 256, shuffle=False)
    rows = {}
    variants = {"static": ("static", {}), "sigmoid": ("sigmoid", {}), "ddw": ("ddw", {})}
    if a.penalty > 0:
        variants["ddw+penalty"] = ("ddw", {"penalty": a.penalty})
    for name, (wiring, options) in variants.items():
        accs, extra, rates = [], [], []
        for seed in range(seeds):
            torch.manual_seed(seed)
            model = ddw_resnet(layers, num_classes=10, channels=a.width, wiring=wiring, in_channels=1, **options)
            loader = data.loader(split.x_train, split.y_train, 64, seed=seed)
            train.fit(model, loader, epochs, lr=0.05, progress=False)
            accs.append(train.evaluate(model, test)["acc"])
            if wiring == "ddw":
                extra.append(soft_and_hard(model, test))
                stats = gw.wiring.ddw.record(model, test)
                routed = model.wired.wiring.routed_mask
                rates.append((float(stats["open_rate"][routed].mean()), float(stats["exec_rate"].mean())))
        rows[name] = {
            "acc_mean": statistics.mean(accs), "acc_std": statistics.pstdev(accs), "accs": accs,
            "params": sum(p.numel() for p in model.parameters()),
            "flops": model.count_flops((1, 1, 8, 8)),
        }
        if extra:
            rows[name]["soft_acc"] = statistics.mean(s for s, _ in extra)
            for mode in ("gate", "alpha"):
                rows[name][f"hard_acc_{mode}"] = statistics.mean(h[mode] for _, h in extra)
            rows[name]["open_rate"] = statistics.mean(o for o, _ in rates)
            rows[name]["exec_rate"] = statistics.mean(e for _, e in rates)
    base = rows["static"]
    print(f"graph: ResNet stages {layers} of complete DAGs, width {a.width}; {seeds} seed(s), {epochs} epoch(s)")
    for name, r in rows.items():
        print(f"{name:12s} accuracy {r['acc_mean']:.4f} +- {r['acc_std']:.4f} | params {r['params']:,} "
              f"({100 * (r['params'] / base['params'] - 1):+.2f}%) | FLOPs {r['flops']:,} "
              f"({100 * (r['flops'] / base['flops'] - 1):+.2f}%)")
    for name in [n for n in rows if n.startswith("ddw")]:
        d = rows[name]
        print(f"{name:12s} open edges {d['open_rate']:.3f}, nodes executed {d['exec_rate']:.3f} | soft "
              f"{d['soft_acc']:.4f} | hard, gate weights {d['hard_acc_gate']:.4f} | hard, alpha weights "
              f"(paper) {d['hard_acc_alpha']:.4f}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    gw.io.atomic_write(out / "ddw_digits.json", json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
