"""Write the ultralytics parity references: thin YOLOv8 / YOLO11 checkpoints saved by the `ultralytics` package and
its own forward outputs on a fixed input. Development tool: run it where `ultralytics` is installed (never a
dependency of this project); the files it writes are committed under tests/yolo/data/ultralytics/.

    python scripts/ultralytics_refs.py --out tests/yolo/data/ultralytics      # in a venv with ultralytics
    python scripts/ultralytics_refs.py --fixture yolo/assets/fixture-yolo11n.pt   # a trained fixture's outputs

Also prints ultralytics' own parameter counts of the ten stock models (yolov8/yolo11 n/s/m/l/x, 80 classes).
The checkpoints use a thin scale (width 1/32) so that they stay small; BatchNorm statistics and weights are
randomised so that folding and every branch are exercised. Both are fp16, as the package writes them: YOLOv8's by
`Model.save` (the layout of released weights), YOLO11's with its `ema` entry set (a training checkpoint).
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


def stock_counts() -> dict[str, int]:
    counts = {}
    for arch in ("yolov8", "yolo11"):
        for scale in "nsmlx":
            model = DetectionModel(f"{arch}{scale}.yaml", verbose=False)
            counts[f"{arch}{scale}"] = sum(p.numel() for p in model.parameters())
    return counts


def thin_model(arch: str, nc: int, seed: int) -> DetectionModel:
    models_dir = Path(ultralytics.__file__).parent / "cfg" / "models"
    cfg_path = models_dir / ("v8" if arch == "yolov8" else "11") / f"{arch}.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["scales"] = {"t": THIN}
    cfg["scale"], cfg["nc"] = "t", nc
    torch.manual_seed(seed)
    model = DetectionModel(cfg, verbose=False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
        model.train()
        for _ in range(3):  # non-trivial running statistics
            model(torch.rand(2, 3, 64, 64))
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/yolo/data/ultralytics")
    parser.add_argument("--fixture", help="write only <out>/<checkpoint stem>_outputs.pt: this trained checkpoint's "
                                          "forward on the references' image")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.fixture:
        image = torch.load(out / "reference_outputs.pt")["image"]
        ckpt = torch.load(args.fixture, map_location="cpu", weights_only=False)
        net = (ckpt.get("ema") or ckpt["model"]).float().eval()
        with torch.no_grad():
            pred = net(image)[0]
        torch.save({"pred": pred, "ultralytics_version": ultralytics.__version__, "fixture": Path(args.fixture).name},
                   out / f"{Path(args.fixture).stem}_outputs.pt")
        return
    torch.manual_seed(0)
    image = torch.rand(IMGSZ)
    refs = {"image": image, "ultralytics_version": ultralytics.__version__}
    for arch, seed in (("yolov8", 1), ("yolo11", 2)):
        model = thin_model(arch, nc=8, seed=seed)
        path = out / f"{arch}-thin.pt"
        if arch == "yolov8":
            wrapper = YOLO(f"{arch}n.yaml")
            wrapper.model = model
            wrapper.ckpt = {}
            wrapper.save(path)  # fp16, "model" entry
        else:
            torch.save({"epoch": 0, "model": None, "ema": copy.deepcopy(model).half(), "updates": 0, "optimizer": None,
                        "train_args": {"imgsz": 128}, "date": datetime.now().isoformat(),
                        "version": ultralytics.__version__}, path)
        reloaded = torch.load(path, map_location="cpu", weights_only=False)
        net = (reloaded.get("ema") or reloaded["model"]).float().eval()
        with torch.no_grad():
            refs[f"{arch}_pred"] = net(image)[0]
            refs[f"{arch}_pred_fused"] = copy.deepcopy(net).fuse(verbose=False)(image)[0]
    torch.save(refs, out / "reference_outputs.pt")
    counts = stock_counts()
    (out / "param_counts.json").write_text(json.dumps({"ultralytics_version": ultralytics.__version__,
                                                       "params": counts}, indent=1) + "\n")
    print(json.dumps(counts, indent=1))


if __name__ == "__main__":
    main()
