"""CPU latency of ONNX files on ONNX Runtime and OpenVINO (`python -m eval.bench`); the timing itself is
common.latency's."""
from eval.bench.benchmark import BACKENDS, make_backend, run_benchmark

__all__ = ["BACKENDS", "make_backend", "run_benchmark"]
