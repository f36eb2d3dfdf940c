"""Train the embedded fixture model: YOLOv5n's graph (8 classes) on the synthetic shapes data, on the CPU
(--model picks another architecture of any family, --width/--depth its multiples).

The committed yolo/assets/fixture.pt is the EMA checkpoint after 21 epochs of a 30-epoch cosine schedule
(seed 0, 4,000 synthetic training images at 256 px, about 30 minutes on 2 shared CPU cores):
    .venv/bin/python -m scripts.train_fixture --epochs 30 --stop-epoch 21 --out yolo/assets/fixture.pt
(It was trained as `--epochs 30 --minutes 70` and stopped after epoch 21, which --stop-epoch reproduces; CPU
thread scheduling makes the bits, not the accuracy, differ between machines.)

The committed yolo/assets/fixture-yolov7-tiny.pt is yolov7-tiny's graph at width multiple 0.5 (LeakyReLU(0.1),
IDetect head, 8 classes), the EMA checkpoint after all 20 epochs of its cosine schedule (seed 0, 256 px, 1 torch
thread; 76 minutes on 2 heavily shared CPU cores, 2.3 minutes per epoch when the machine was quieter):
    .venv/bin/python -m scripts.train_fixture --model yolov7-tiny --width 0.5 --epochs 20 --threads 1 \
        --out yolo/assets/fixture-yolov7-tiny.pt
(It was written to runs/train/ by that command and copied here; 3.2 MB.)

A checkpoint (the EMA weights, fp16, with the yaml) is written atomically after every epoch, so the run can be
stopped at any time and resumed with --resume.
"""
import argparse
import copy
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from common.atomic import atomic_path
from common.cli import run_cli
from common.errors import QYoloError
from common.pt_file import read_pt
from yolo.fixture import FIXTURE_IMGSZ
from yolo.loss import YoloLoss
from yolo.registry import build_model, named_config
from yolo.synthetic import CLASS_NAMES, ensure_split


def load_split(split: str, imgsz: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """All images letterboxed to imgsz (uint8 NHWC RGB) and their targets (class, cx, cy, w, h normalised)."""
    import json
    image_dir, ann_path = ensure_split(split)
    coco = json.loads(ann_path.read_text())
    by_image: dict[int, list] = {}
    for a in coco["annotations"]:
        if not a["iscrowd"]:
            by_image.setdefault(a["image_id"], []).append(a)
    images = np.full((len(coco["images"]), imgsz, imgsz, 3), 114, np.uint8)
    labels = []
    for k, im in enumerate(tqdm(coco["images"], desc=f"load {split}", unit="img")):
        img = cv2.imread(str(image_dir / im["file_name"]))[:, :, ::-1]
        h0, w0 = img.shape[:2]
        r = imgsz / max(h0, w0)
        nh, nw = round(h0 * r), round(w0 * r)
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
        top, left = (imgsz - nh) // 2, (imgsz - nw) // 2
        images[k, top:top + nh, left:left + nw] = img
        rows = []
        for a in by_image.get(im["id"], []):
            x, y, w, h = a["bbox"]
            rows.append([a["category_id"] - 1, (left + (x + w / 2) * r) / imgsz, (top + (y + h / 2) * r) / imgsz,
                         w * r / imgsz, h * r / imgsz])
        labels.append(np.array(rows, np.float32).reshape(-1, 5))
    return images, labels


class ModelEMA:
    """Exponential moving average of the weights, decay ramping up as in YOLOv5 (tau 2000 updates)."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.9999, tau: float = 2000, updates: int = 0):
        self.ema = copy.deepcopy(model).eval()
        self.updates = updates
        self.decay = lambda x: decay * (1 - math.exp(-x / tau))
        for p in self.ema.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = self.decay(self.updates)
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)


def make_batch(images, labels, idx, rng, flip: bool = True):
    imgs = images[idx].copy()
    targets = []
    for bi, k in enumerate(idx):
        lab = labels[k].copy()
        if flip and rng.random() < 0.5:
            imgs[bi] = imgs[bi, :, ::-1]
            lab[:, 1] = 1 - lab[:, 1]
        targets.append(np.concatenate([np.full((len(lab), 1), bi, np.float32), lab], 1))
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div_(255)
    return x, torch.from_numpy(np.concatenate(targets, 0))


def save_checkpoint(path: Path, ema: ModelEMA, epoch: int, args: argparse.Namespace) -> None:
    model = ema.ema
    payload = {
        "format": "q-yolo-state-dict",
        "yaml": model.yaml,
        "names": model.names,
        "state_dict": {k: v.half() if v.dtype.is_floating_point else v for k, v in model.state_dict().items()},
        "imgsz": args.imgsz,
        "epoch": epoch,
        "ema_updates": ema.updates,
        "train_command": " ".join(sys.argv),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--stop-epoch", type=int, default=None, help="stop after this many epochs of the schedule")
    parser.add_argument("--minutes", type=float, default=None, help="stop after the epoch that passes this budget")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--imgsz", type=int, default=FIXTURE_IMGSZ)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("yolo/assets/fixture.pt"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--model", default="yolov5n",
                        help="model name of any family (yolov5n, yolov7, yolov7-tiny ...)")
    parser.add_argument("--width", type=float, default=None, help="override the model's width_multiple")
    parser.add_argument("--depth", type=float, default=None, help="override the model's depth_multiple")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = named_config(args.model)
    if cfg is None:
        raise QYoloError(f"unknown --model {args.model!r}; give a name like yolov5n, yolov7 or yolov7-tiny")
    for key, value in (("width_multiple", args.width), ("depth_multiple", args.depth)):
        if value is not None:
            cfg[key] = value
    cfg["nc"] = len(CLASS_NAMES)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    images, labels = load_split("train", args.imgsz)
    model = build_model(cfg, names=CLASS_NAMES).train()
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.937, 0.999))
    ema = ModelEMA(model)
    start_epoch = 0
    if args.resume and args.out.exists():
        ckpt = read_pt(args.out)
        model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
        ema = ModelEMA(model, updates=ckpt["ema_updates"])
        start_epoch = ckpt["epoch"] + 1
    loss_fn = YoloLoss(model.detect, args.imgsz)
    steps_per_epoch = len(images) // args.batch
    total_steps, warmup = args.epochs * steps_per_epoch, min(300, steps_per_epoch * 2)
    t0 = time.time()
    for epoch in range(start_epoch, args.epochs):
        order = rng.permutation(len(images))
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch")
        for step in bar:
            it = epoch * steps_per_epoch + step
            lr_scale = min(1.0, (it + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * it / total_steps)))
            for group in opt.param_groups:
                group["lr"] = args.lr * lr_scale
            x, targets = make_batch(images, labels, order[step * args.batch:(step + 1) * args.batch], rng)
            loss, parts = loss_fn(model(x), targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            ema.update(model)
            bar.set_postfix(box=f"{parts[0]:.3f}", obj=f"{parts[1]:.3f}", cls=f"{parts[2]:.3f}")
        save_checkpoint(args.out, ema, epoch, args)
        if args.stop_epoch is not None and epoch + 1 >= args.stop_epoch:
            break
        if args.minutes is not None and (time.time() - t0) / 60 > args.minutes:
            print(f"time budget of {args.minutes} min reached after epoch {epoch + 1}")
            break
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
