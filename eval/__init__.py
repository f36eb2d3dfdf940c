"""Evaluation: backends (torch, onnxruntime, openvino, tensorrt) behind one interface, COCO mAP, latency, reports.

The stage's public function is `eval.evaluate(EvalConfig)`. Imported eagerly: the function shares its name with
the `eval.evaluate` module, and importing it here binds the package attribute to the function for good.
"""
from eval.evaluate import EvalConfig, evaluate

__all__ = ["EvalConfig", "evaluate"]
