"""Train a paper's network on your own images (an image-folder layout), restartable at any time.

    python examples/image_folder.py --root path/to/images --model darts --epochs 30 -o runs/darts

``--root`` holds one folder of images per class (``root/<class>/<image>``); without it the script
draws a small folder of coloured-square images to train on. ``--model`` picks RandWire (small
regime, CIFAR-sized stem), DARTS_V2 (CIFAR-10 layout, auxiliary head, drop-path) or MobileNet V1.
Training uses the usual augmentation (random crop of the padded image, horizontal flip) and the
paper's recipe; a checkpoint is written after every epoch to ``OUT/run.ckpt``, and running the
same command again continues from it (a killed run resumes where it stopped). At the end it prints
the accuracy and the inference cost of the trained network.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset

import graphwire as gw
from graphwire import data, models
from graphwire.train import evaluate, fit, recalibrate_bn


def synthetic_folder(root: Path, size: int, per_class: int, seed: int = 0) -> Path:
    """root/<colour>/<k>.png: noisy squares of one dominant colour per class."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, colour in {"blue": (30, 60, 210), "green": (40, 200, 60), "red": (220, 40, 30)}.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            a = np.array(colour)[None, None] + rng.integers(-60, 60, (size, size, 3))
            Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(root / name / f"{k}.png")
    return root


def build(name: str, classes: int, fast: bool) -> tuple[torch.nn.Module, dict]:
    if name == "randwire":
        model = models.randwire(num_classes=classes, stem_stride=1, nodes=8 if fast else 32,
                                channels=8 if fast else 78)
        return model, {"label_smoothing": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-5}
    if name == "darts":
        model = models.darts_network("DARTS_V2", num_classes=classes, auxiliary=True,
                                     channels=4 if fast else 36, cells=3 if fast else 20)
        return model, {"drop_path": 0.2, "aux_weight": 0.4, "grad_clip": 5.0, "momentum": 0.9, "nesterov": False,
                       "weight_decay": 3e-4}
    model = models.mobilenet_v1(num_classes=classes, width_mult=0.25, stem_stride=1)
    return model, {"momentum": 0.9, "weight_decay": 5e-5}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=None, help="image folder (root/<class>/<image>); default: a generated one")
    p.add_argument("--model", choices=("randwire", "darts", "mobilenet"), default="darts")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.025)
    p.add_argument("--fast", action="store_true", help="a tiny run (smoke test)")
    p.add_argument("-o", "--out", default="runs/image_folder")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    size, epochs = (16, 2) if a.fast else (a.image_size, a.epochs)
    root = Path(a.root) if a.root else synthetic_folder(Path(tempfile.mkdtemp()), size, 8 if a.fast else 64)

    torch.manual_seed(0)
    augmented = data.image_folder(root, image_size=size, transform=data.augmentation(size, padding=size // 8))
    plain = data.image_folder(root, image_size=size)
    held_out = list(range(0, len(plain), 4))  # every 4th image is kept for testing
    fitting = [i for i in range(len(plain)) if i % 4]
    model, recipe = build(a.model, len(plain.classes), a.fast)
    history = fit(model, data.dataset_loader(Subset(augmented, fitting), a.batch_size, seed=0), epochs, lr=a.lr,
                  checkpoint=out / "run.ckpt", resume=True, progress=not a.fast, **recipe)
    # BatchNorm's running statistics lag behind the weights on a short run: re-estimate them first
    recalibrate_bn(model, data.dataset_loader(Subset(plain, fitting), a.batch_size, seed=1))
    acc = evaluate(model, data.dataset_loader(Subset(plain, held_out), a.batch_size, shuffle=False))["acc"]
    history.save(out / "history.json")
    cost = gw.inference_cost(model, (1, 3, size, size))
    print(f"{a.model} on {len(fitting)} images of {len(plain.classes)} classes: held-out accuracy {acc:.3f} "
          f"after {len(history.epochs)} epochs")
    print(cost)
    return acc


if __name__ == "__main__":
    main()
