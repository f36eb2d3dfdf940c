"""The embedded default: the committed fixture model and the synthetic data it was trained on."""
from pathlib import Path

from yolo.synthetic import DEFAULT_ROOT, ensure_split

FIXTURE_WEIGHTS = Path(__file__).resolve().parent / "assets" / "fixture.pt"
FIXTURE_IMGSZ = 256
# YOLOv8n (8 classes) trained on the same data by the ultralytics package; commands in docs/history.md.
FIXTURE_YOLOV8N = Path(__file__).resolve().parent / "assets" / "fixture-yolov8n.pt"
# YOLO11n (8 classes, C3k2 + C2PSA attention) trained the same way; commands in docs/history.md.
FIXTURE_YOLO11N = Path(__file__).resolve().parent / "assets" / "fixture-yolo11n.pt"
# YOLO26n (8 classes, end-to-end head) trained the same way; commands in docs/families.md.
FIXTURE_YOLO26N = Path(__file__).resolve().parent / "assets" / "fixture-yolo26n.pt"
# yolov7-tiny at width 0.5 (8 classes), trained by scripts/train_fixture.py (command in its docstring).
FIXTURE_YOLOV7_TINY = Path(__file__).resolve().parent / "assets" / "fixture-yolov7-tiny.pt"


def fixture_val_data(root: str | Path = DEFAULT_ROOT, progress: bool = True) -> Path:
    """Path of the 500-image synthetic validation annotation JSON (generated on first use)."""
    return ensure_split("val", root, progress)[1]


def fixture_calib_images(root: str | Path = DEFAULT_ROOT, progress: bool = True) -> Path:
    """Folder of the synthetic calibration images (a split of their own, disjoint from val)."""
    return ensure_split("calib", root, progress)[0]
