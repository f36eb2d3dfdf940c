"""Evaluation: backends (torch, onnxruntime, openvino, tensorrt) behind one interface, COCO mAP, latency, reports."""


def evaluate(config):
    """Run a backend over a dataset and score it with pycocotools; see eval.evaluate.EvalConfig."""
    from eval.evaluate import evaluate as _evaluate

    return _evaluate(config)
