"""The supported model families; importing this package registers each of them with yolo.family."""
from yolo.families import ultralytics, yolov5, yolov7  # noqa: F401
