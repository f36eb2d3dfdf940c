"""CPU latency of ONNX files on ONNX Runtime and OpenVINO (`python -m eval.bench`); the timing itself is
common.latency's."""
from eval.bench.benchmark import BACKENDS, OPTIONAL_BACKENDS, make_backend, run_benchmark

__all__ = ["BACKENDS", "OPTIONAL_BACKENDS", "make_backend", "run_benchmark"]
