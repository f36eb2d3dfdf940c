"""The supported model families; importing this package registers each of them with yolo.family."""
from yolo.families import yolov5  # noqa: F401
from yolo.families import ultralytics  # noqa: F401
