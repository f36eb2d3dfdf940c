"""The supported model families, in one explicit list (yolo.registry looks a yaml or a model up in it). A new family
is a module here defining its `yolo.family.Family`, added to FAMILIES."""
from yolo.families.ultralytics import YOLO11, YOLOV8
from yolo.families.yolo26 import YOLO26
from yolo.families.yolov5 import YOLOV5
from yolo.families.yolov7 import YOLOV7
from yolo.families.yolov10 import YOLOV10

FAMILIES = (YOLOV5, YOLOV7, YOLOV8, YOLO11, YOLO26, YOLOV10)
