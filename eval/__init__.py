"""Evaluation: backends (torch, onnxruntime, openvino, tensorrt) behind one interface, COCO mAP, the deployment
fidelity check, reports (latency is measured by bench/).

The stage's public function is `eval.evaluate(EvalConfig)` (defined in eval/stage.py).
"""
from eval.stage import EvalConfig, evaluate

__all__ = ["EvalConfig", "evaluate"]
