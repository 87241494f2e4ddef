"""Regenerate the pictures of the documentation's gallery (docs/gallery/) from a real run.

Trains a Watts-Strogatz wired conv net with one sigmoid gate per edge (``carry=True``, the demo's
setting) on scikit-learn's bundled 8x8 digits, then writes what graphwire draws:

- ``learned.svg`` / ``learned.png`` and ``pruned.svg`` / ``pruned.png``: Graphviz drawings
  (``io.render``; the PNGs come from the same DOT text through ``dot -Tpng``);
- ``wiring.html``: the interactive page (``io.to_html``), and ``wiring-html.png``, a screenshot of
  it in headless Chromium (skipped with a note when Chromium is missing, or with ``--no-browser``);
- ``evolution.png``, ``adjacency.png``, ``share.png``, ``degrees.png``: the ``graphwire.viz``
  plots;
- ``dnw-adjacency.png``: the adjacency of a DNW channel graph's learned wiring;
- ``info.txt``: what ``graphwire info`` prints for the learned graph.

    OMP_NUM_THREADS=1 python scripts/make_gallery.py              # into docs/gallery/
    python scripts/make_gallery.py --fast --out /tmp/g --no-browser   # a quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html: Path, png: Path, *, size: str = "1200,900") -> bool:
    """Screenshot ``html`` with headless Chromium; False when no browser is installed."""
    browser = chromium()
    if browser is None:
        return False
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={size}", "--virtual-time-budget=3000", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return png.exists()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "gallery"), help="folder for the pictures")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--fast", action="store_true", help="2 epochs, smaller DNW graph (a smoke test)")
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium screenshot")
    args = ap.parse_args(argv)

    import torch

    import graphwire as gw
    from graphwire import data, generators, models, train, viz

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs = 2 if args.fast else args.epochs
    torch.manual_seed(0)

    # a RandWire-style graph with a gate per edge, trained on the bundled digits
    G = generators.watts_strogatz(12, 4, 0.75, seed=0)
    split = data.digits()
    model = models.wired_conv2d(G, in_channels=1, num_classes=10, channels=16, wiring="sigmoid",
                                carry=True, init=3.0, penalty=0.3)
    loader = data.loader(split.x_train, split.y_train, 64)
    history = train.fit(model, loader, epochs, wiring_lr=5.0, snapshot_every=4, progress=False,
                        val_loader=data.loader(split.x_test, split.y_test, shuffle=False))
    learned = model.write_back()
    pruned = gw.prune(learned, keep=0.5, attr="weight", ensure_path=True)

    # Graphviz drawings: SVG for the site, PNG from the same DOT text
    for name, graph in (("learned", learned), ("pruned", pruned)):
        gw.io.render(graph, out / f"{name}.svg")
        gw.io.render(graph, out / f"{name}.png")

    # the interactive page, and what a browser shows of it
    gw.io.to_html(learned, history, out / "wiring.html", title="graphwire gallery: sigmoid gates over training")
    shot = out / "wiring-html.png"
    if args.no_browser or not screenshot(out / "wiring.html", shot):
        print("gallery: no Chromium screenshot (--no-browser, or chromium not installed)")

    # plots
    viz.plot_edge_history(history, path=out / "evolution.png")
    viz.plot_adjacency(learned, attr="weight", path=out / "adjacency.png")
    viz.plot_adjacency(gw.share(learned), attr="share", path=out / "share.png")
    viz.plot_degrees(learned, pruned, path=out / "degrees.png")

    # DNW on a layered channel graph: which of the candidate edges a short training chose
    sizes = [8, 16, 16, 8] if args.fast else [16, 32, 32, 16]
    dnw = gw.compile(generators.layered(sizes), in_channels=1, channels=1, default_op="channel",
                     wiring="dnw", k=0.2)
    head = torch.nn.Linear(dnw.out_channels, 10)
    opt = torch.optim.SGD([*dnw.parameters(), *head.parameters()], lr=0.1, momentum=0.9)
    dnw_loader = data.loader(split.x_train, split.y_train, 64)
    for _ in range(1 if args.fast else 4):
        for xb, yb in dnw_loader:
            loss = torch.nn.functional.cross_entropy(head(dnw(xb).mean((2, 3))), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    viz.plot_adjacency(dnw.write_back(), attr="weight", path=out / "dnw-adjacency.png",
                       title=f"DNW, layered({sizes}): the {int(dnw.wiring.k)} chosen edges")

    # the command line's summary of the learned graph
    gw.io.to_json(learned, out / "learned.json")
    info = subprocess.run([sys.executable, "-m", "graphwire", "info", "learned.json"],
                          capture_output=True, text=True, check=True, cwd=out,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    (out / "info.txt").write_text(info.stdout)
    (out / "learned.json").unlink()
    acc = history.epochs[-1]["val_acc"]
    print(f"gallery: {len(list(out.iterdir()))} files in {out} (test accuracy after {epochs} epochs: {acc:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
