"""The detector side: YOLOv5 models from their yaml, checkpoint loading, letterbox, NMS, datasets, synthetic data."""
