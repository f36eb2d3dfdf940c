"""Write the synthetic splits as a YOLO-layout dataset (images/<split>, labels/<split>/*.txt, data.yaml).

That is the layout the `ultralytics` trainer and validator read, so a detector can be trained and validated by the
upstream tools on exactly the images `python -m eval` scores. Images are symlinked, not copied. Crowd (ignore)
annotations are left out: YOLO labels have no way to say "ignore", and `yolo val` would count them as misses.

    .venv/bin/python -m scripts.yolo_layout --out runs/synthetic-yolo
"""
import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from common.atomic import write_text_atomic
from common.cli import run_cli
from yolo.synthetic import CLASS_NAMES, DEFAULT_ROOT, ensure_split


def write_split(split: str, out: Path, root: Path = DEFAULT_ROOT) -> int:
    """Link the split's images and write one label file per image; returns the number of images."""
    image_dir, ann_path = ensure_split(split, root)
    coco = json.loads(ann_path.read_text())
    (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    by_image: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        if not a["iscrowd"]:
            by_image.setdefault(a["image_id"], []).append(a)
    for im in coco["images"]:
        link = out / "images" / split / im["file_name"]
        if not link.exists():
            os.symlink((image_dir / im["file_name"]).resolve(), link)
        w, h = im["width"], im["height"]
        lines = []
        for a in by_image.get(im["id"], []):
            x, y, bw, bh = a["bbox"]
            cx, cy = (x + bw / 2) / w, (y + bh / 2) / h
            lines.append(f"{a['category_id'] - 1} {cx:.6f} {cy:.6f} {bw / w:.6f} {bh / h:.6f}")
        write_text_atomic(out / "labels" / split / (Path(im["file_name"]).stem + ".txt"), "\n".join(lines) + "\n")
    return len(coco["images"])


def write_yolo_layout(out: str | Path, splits: tuple[str, ...] = ("train", "val"), root: Path = DEFAULT_ROOT) -> Path:
    """The dataset under `out` and its data yaml (path, train, val, names); returns the yaml's path."""
    out = Path(out).resolve()
    for split in splits:
        write_split(split, out, root)
    data = {"path": str(out), **{s: f"images/{s}" for s in splits}, "names": dict(enumerate(CLASS_NAMES))}
    yaml_path = out / "data.yaml"
    write_text_atomic(yaml_path, yaml.safe_dump(data, sort_keys=False))
    return yaml_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/synthetic-yolo", help="output folder")
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val", "calib"])
    args = parser.parse_args(argv)
    print(write_yolo_layout(args.out, tuple(args.splits)))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
