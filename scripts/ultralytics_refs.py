"""Write the ultralytics parity references: thin checkpoints saved by the `ultralytics` package and its own forward
outputs on a fixed input. Development tool: run it where `ultralytics` is installed (never a dependency of this
project); the files it writes are committed under tests/yolo/data/ultralytics/.

    python scripts/ultralytics_refs.py --out tests/yolo/data/ultralytics      # in a venv with ultralytics
    python scripts/ultralytics_refs.py --archs yolo26 yolov10                  # only these thin checkpoints
    python scripts/ultralytics_refs.py --fixture yolo/assets/fixture-yolo11n.pt   # a trained fixture's outputs
    python scripts/ultralytics_refs.py --fixture yolo/assets/fixture-yolo26n.pt \
        --images data/synthetic/val/val_000000.jpg data/synthetic/val/val_000001.jpg  # on two val images

Also writes ultralytics' own parameter counts of the stock models (yolov8/yolo11/yolo26 n/s/m/l/x, yolov10
n/s/m/b/l/x, 80 classes) and their yaml dicts (package_yamls.json). The checkpoints use a thin scale (width 1/32)
so that they stay small; BatchNorm statistics and weights are randomised so that folding and every branch are
exercised. All are fp16, as the package writes them: YOLOv8's and YOLOv10's by `Model.save` (the layout of
released weights), YOLO11's and YOLO26's with their `ema` entry set (a training checkpoint).

The end-to-end models (YOLO26, YOLOv10) get their references on a larger input (reference_outputs_end_to_end.pt,
2 x 128 x 192 smooth blobs, stored as 8-bit levels: 504 candidates, so the head's top 300 is a real selection): the
one-to-one head's detections (the package with end2end on, as `yolo val nms=False` runs it) unfused and fused, and
the one-to-many head's decoded output (end2end off, what `yolo val` runs by default before its NMS). Their thin
weights are He-initialised and their class priors spread, so that the scores differ over the image.
"""
import argparse
import copy
import json
from datetime import datetime
from pathlib import Path

import torch
import ultralytics
import yaml
from ultralytics import YOLO
from ultralytics.nn.tasks import DetectionModel

THIN = [0.33, 0.03125, 1024]
IMGSZ = (1, 3, 64, 96)
IMGSZ_END_TO_END = (2, 3, 128, 192)
STOCK = {"yolov8": "nsmlx", "yolo11": "nsmlx", "yolo26": "nsmlx", "yolov10": "nsmblx"}
END_TO_END = ("yolo26", "yolov10")
SEEDS = {"yolov8": 1, "yolo11": 2, "yolo26": 3, "yolov10": 4}


def yaml_path(name: str) -> Path:
    """The package's yaml of a stock model name (yolo11n -> cfg/models/11/yolo11.yaml; yolov10 has one per size)."""
    arch = next(a for a in STOCK if name.startswith(a))
    folder = {"yolov8": "v8", "yolo11": "11", "yolo26": "26", "yolov10": "v10"}[arch]
    return Path(ultralytics.__file__).parent / "cfg" / "models" / folder / f"{name if arch == 'yolov10' else arch}.yaml"


def stock_counts() -> tuple[dict[str, int], dict[str, dict]]:
    """Parameter counts of the stock models and their yaml dicts (scale chosen, as the package resolves them)."""
    counts, yamls = {}, {}
    for arch, scales in STOCK.items():
        for scale in scales:
            model = DetectionModel(f"{arch}{scale}.yaml", verbose=False)
            counts[f"{arch}{scale}"] = sum(p.numel() for p in model.parameters())
            yamls[f"{arch}{scale}"] = {key: model.yaml[key] for key in ("nc", "scales", "scale", "backbone", "head",
                                                                         "end2end", "reg_max") if key in model.yaml}
    return counts, yamls


def thin_model(arch: str, nc: int, seed: int) -> DetectionModel:
    cfg = yaml.safe_load(yaml_path(f"{arch}n").read_text())
    cfg["scales"] = {"t": THIN}
    cfg["scale"], cfg["nc"] = "t", nc
    torch.manual_seed(seed)
    model = DetectionModel(cfg, verbose=False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
            if arch in END_TO_END and isinstance(m, torch.nn.Conv2d) and m.weight.requires_grad:
                # He init: the default init shrinks the signal layer by layer, leaving features (and so the end-to-end
                # scores) nearly constant over the image, and the head's top-k a selection by rounding noise
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        model.train()
        for _ in range(3):  # non-trivial running statistics
            model(torch.rand(2, 3, 64, 64))
        if arch in END_TO_END:  # class priors spread over the sigmoid's range instead of the ~0.001 of training's
            head = model.model[-1]
            for seq in (*head.cv3, *head.one2one_cv3):
                seq[-1].bias.uniform_(-3.0, 1.0)
    return model.eval()


def save_checkpoint(model: DetectionModel, arch: str, path: Path) -> None:
    """fp16, as the package writes it: `Model.save` (released weights' layout) or a training checkpoint's `ema`."""
    if arch in ("yolov8", "yolov10"):
        wrapper = YOLO(f"{arch}n.yaml")
        wrapper.model = model
        wrapper.ckpt = {}
        wrapper.save(path)  # fp16, "model" entry
    else:
        torch.save({"epoch": 0, "model": None, "ema": copy.deepcopy(model).half(), "updates": 0, "optimizer": None,
                    "train_args": {"imgsz": 128}, "date": datetime.now().isoformat(),
                    "version": ultralytics.__version__}, path)


def reload(path: Path) -> DetectionModel:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return (ckpt.get("ema") or ckpt["model"]).float().eval()


@torch.no_grad()
def end_to_end_refs(net: DetectionModel, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """The one-to-one head's detections unfused and fused (end2end on) and the one-to-many head's decoded output."""
    one2one = copy.deepcopy(net)
    one2one.end2end = True
    one2many = copy.deepcopy(net)
    one2many.end2end = False
    return {"pred": one2one(image)[0], "pred_fused": copy.deepcopy(one2one).fuse(verbose=False)(image)[0],
            "one2many": one2many(image)[0]}


def read_images(paths: list[str], size: int = 256) -> torch.Tensor:
    """[N, 3, size, size] uint8 RGB, each image resized to the square (what the references run on, stored)."""
    import cv2

    return torch.stack([torch.from_numpy(cv2.resize(cv2.imread(p)[..., ::-1], (size, size),
                                                    interpolation=cv2.INTER_LINEAR).copy()).permute(2, 0, 1)
                        for p in paths])


def write_fixture_outputs(fixture: Path, out: Path, images: list[str] | None = None) -> None:
    """<out>/<fixture stem>_outputs.pt: a trained checkpoint's forward on the references' image (end-to-end models:
    on `images` (stored with the outputs) or the end-to-end references' image, all three outputs)."""
    net = reload(fixture)
    if getattr(net, "end2end", None) is not None and getattr(net.model[-1], "one2one_cv2", None) is not None:
        image = read_images(images) if images else torch.load(out / "reference_outputs_end_to_end.pt")["image"]
        record = {**end_to_end_refs(net, image.float() / 255), "image": image}
    else:
        with torch.no_grad():
            record = {"pred": net(torch.load(out / "reference_outputs.pt")["image"])[0]}
    torch.save({**record, "ultralytics_version": ultralytics.__version__, "fixture": fixture.name},
               out / f"{fixture.stem}_outputs.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/yolo/data/ultralytics")
    parser.add_argument("--archs", nargs="+", default=list(STOCK), choices=list(STOCK),
                        help="thin checkpoints to write (the counts and yamls are written for every stock model)")
    parser.add_argument("--fixture", help="write only <out>/<checkpoint stem>_outputs.pt: this trained checkpoint's "
                                          "forward on the references' image")
    parser.add_argument("--images", nargs="+", help="with --fixture of an end-to-end model: run on these images "
                                                    "(resized to 256 x 256, stored with the outputs) instead")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.fixture:
        write_fixture_outputs(Path(args.fixture), out, args.images)
        return
    torch.manual_seed(0)
    image = torch.rand(IMGSZ)
    # Blobs (upsampled coarse noise) rather than pixel noise, which the thin random networks average away: their
    # features, and so the end-to-end scores, must vary over the image for the top-k to select anything.
    coarse = torch.nn.functional.interpolate(torch.rand(*IMGSZ_END_TO_END[:2], 4, 6), IMGSZ_END_TO_END[2:],
                                             mode="bicubic", align_corners=False)
    image_e2e = (coarse.clamp(0, 1) * 255).round().to(torch.uint8)  # 8-bit levels: a quarter of the bytes
    refs = {"image": image, "ultralytics_version": ultralytics.__version__}
    refs_e2e = {"image": image_e2e, "ultralytics_version": ultralytics.__version__}
    for arch in args.archs:
        path = out / f"{arch}-thin.pt"
        save_checkpoint(thin_model(arch, nc=8, seed=SEEDS[arch]), arch, path)
        net = reload(path)
        if arch in END_TO_END:
            refs_e2e.update({f"{arch}_{key}": value
                             for key, value in end_to_end_refs(net, image_e2e.float() / 255).items()})
        else:
            with torch.no_grad():
                refs[f"{arch}_pred"] = net(image)[0]
                refs[f"{arch}_pred_fused"] = copy.deepcopy(net).fuse(verbose=False)(image)[0]
    if any(arch not in END_TO_END for arch in args.archs):
        torch.save(refs, out / "reference_outputs.pt")
    if any(arch in END_TO_END for arch in args.archs):
        torch.save(refs_e2e, out / "reference_outputs_end_to_end.pt")
    counts, yamls = stock_counts()
    (out / "param_counts.json").write_text(json.dumps({"ultralytics_version": ultralytics.__version__,
                                                       "params": counts}, indent=1) + "\n")
    (out / "package_yamls.json").write_text(json.dumps({"ultralytics_version": ultralytics.__version__,
                                                        "yamls": yamls}, indent=1) + "\n")
    print(json.dumps(counts, indent=1))


if __name__ == "__main__":
    main()
