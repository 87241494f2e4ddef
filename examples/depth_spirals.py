"""Learnt depth on 2-arm spirals (variational depth search) against fixed-depth networks.

    python examples/depth_spirals.py [--fast] [-o OUT]

The reference setting of the depth-search code: 720-degree spirals, noise 0.2, 200 train / 1800
test points (standardised), width 20, max depth D = 20, full-batch SGD (lr 0.1, momentum 0.5),
best training-ELBO checkpoint, early stop after 500 epochs without improvement. Fixed-depth
networks d = 0..D are the same chain trained the same way with q one-hot on d (no KL).
Writes OUT/depth_posterior.png, OUT/results.json and the written-back chain OUT/learnt_depth.json.
"""

import argparse
import json
import time
from pathlib import Path

import torch

import graphwire as gw
from graphwire import data, models, train, viz


def _eval(model, x, y):
    model.eval()
    with torch.no_grad():
        probs = model.predict_proba(x)
    acc = float((probs.argmax(1) == y).float().mean())
    nll = float(-torch.log(probs.gather(1, y[:, None]).clamp_min(1e-12)).mean())
    return {"acc": acc, "nll": nll, "ece": models.expected_calibration_error(probs, y)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="a tiny run (for tests)")
    p.add_argument("-o", "--out", default="depth-spirals-out")
    p.add_argument("--max-depth", type=int, default=20)
    p.add_argument("--width", type=int, default=20)
    p.add_argument("--epochs", type=int, default=4000)
    p.add_argument("--patience", type=int, default=500)
    p.add_argument("--seeds", type=int, default=3, help="learnt-depth runs (initialisations)")
    a = p.parse_args(argv)
    if a.fast:
        a.max_depth, a.epochs, a.patience, a.seeds = 4, 150, 150, 1
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    t_start, cpu_start = time.perf_counter(), time.process_time()

    s = data.spirals(n_train=200, n_test=1800, noise=0.2, rotation=720.0, seed=0, standardize=True)
    D, W = a.max_depth, a.width

    runs = []
    for seed in range(a.seeds):  # learnt depth: several initialisations (the paper repeats 6 times)
        torch.manual_seed(seed)
        ldn = models.LearntDepthNet(in_channels=2, num_classes=2, max_depth=D, channels=W, n_train=len(s.y_train))  # prior 0.85^(d+1)
        fit = train.fit_elbo(ldn, s.x_train, s.y_train, epochs=a.epochs, patience=a.patience)
        q = [float(x) for x in ldn.q().detach()]
        runs.append({
            "seed": seed, "epochs_run": fit["epochs"], "best_epoch": fit["best_epoch"], "q": q,
            "mass_d_le_1": sum(q[:2]), "d_opt": ldn.d_opt(), "d_opt_cdf": ldn.d_opt("cdf"),
            "expected_depth": ldn.expected_depth(), "marginal": _eval(ldn, s.x_test, s.y_test),
            "pruned": _eval(ldn.prune(), s.x_test, s.y_test),
            "per_depth_acc": ldn.depth_accuracy(s.x_test, s.y_test)})
        if seed == 0:
            first = ldn

    fixed = {}
    for d in range(D + 1):  # fixed depth: the same chain and training, q one-hot on d, no KL
        torch.manual_seed(0)
        ddn = models.LearntDepthNet(in_channels=2, num_classes=2, max_depth=d, channels=W, fixed=True)
        fit = train.fit_elbo(ddn, s.x_train, s.y_train, epochs=a.epochs, patience=a.patience)
        fixed[d] = dict(_eval(ddn, s.x_test, s.y_test), epochs_run=fit["epochs"])

    accs = [fixed[d]["acc"] for d in range(D + 1)]
    best = max(accs)
    plateau = min(d for d in range(D + 1) if accs[d] >= best - 0.01)  # first depth within 1 point of the best
    mean = lambda key, sub=None: sum(r[key] if sub is None else r[key][sub] for r in runs) / len(runs)
    results = {
        "max_depth": D, "width": W, "epochs": a.epochs, "patience": a.patience, "runs": runs,
        "fixed_depth": {str(d): v for d, v in fixed.items()}, "fixed_plateau_depth": plateau,
        "mean": {"mass_d_le_1": mean("mass_d_le_1"), "marginal_acc": mean("marginal", "acc"),
                 "pruned_acc": mean("pruned", "acc"), "d_opt": mean("d_opt")},
        "seconds": time.perf_counter() - t_start, "cpu_seconds": time.process_time() - cpu_start,
    }
    gw.io.atomic_write(out / "results.json", json.dumps(results, indent=2))
    r0 = runs[0]
    gw.io.to_json(first.write_back(), out / "learnt_depth.json")
    fig = viz.plot_depth_posterior(first, fixed_depth=accs, marginal=r0["marginal"]["acc"],
                                   pruned=r0["pruned"]["acc"], title=f"2-arm spirals: width {W}, D = {D} (seed 0)",
                                   path=out / "depth_posterior.png")
    fig.clf()

    print("fixed-depth test accuracy: " + " ".join(f"{d}:{fixed[d]['acc']:.3f}" for d in range(D + 1))
          + f" (within 1 point of the best from d = {plateau})")
    for r in runs:
        print(f"seed {r['seed']}: q(d<=1) = {r['mass_d_le_1']:.4f}, d_opt = {r['d_opt']} (cdf rule {r['d_opt_cdf']}), "
              f"E[d] = {r['expected_depth']:.2f}, stopped at epoch {r['epochs_run']}; test accuracy marginal "
              f"{r['marginal']['acc']:.4f} (NLL {r['marginal']['nll']:.4f}, ECE {r['marginal']['ece']:.4f}), pruned "
              f"{r['pruned']['acc']:.4f} (NLL {r['pruned']['nll']:.4f}, ECE {r['pruned']['ece']:.4f})")
    m = results["mean"]
    print(f"learnt depth, mean of {len(runs)} seeds: test accuracy {m['marginal_acc']:.4f} marginal, "
          f"{m['pruned_acc']:.4f} pruned; q(d<=1) = {m['mass_d_le_1']:.4f}; "
          f"{results['seconds']:.0f} s wall, {results['cpu_seconds']:.0f} s CPU")
    return results


if __name__ == "__main__":
    main()
