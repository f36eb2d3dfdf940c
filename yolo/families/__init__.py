"""The supported model families; importing this package registers each of them with yolo.family."""
from yolo.families import ultralytics, yolo26, yolov5, yolov7, yolov10  # noqa: F401
