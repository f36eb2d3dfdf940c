"""`openvino` eval backend: an ONNX model compiled by OpenVINO for the CPU, behind the common Backend interface.

Same interface and batch handling as the `ort` backend. OpenVINO runs a QDQ graph's convolutions in int8 (its
low-precision transformations turn each Q/DQ pair into a FakeQuantize it fuses into the conv). Options:
threads (default 2), precision_hint ("f32" default: without it OpenVINO runs float layers in bf16 on CPUs with
AMX/AVX512-BF16, as these are, which would make the "FP32" rows bf16), static_batch (reshape a dynamic-batch
model to this batch: faster for fixed-size benchmarking).
"""
from pathlib import Path

import numpy as np

from common.errors import QYoloError
from eval.backends.ort_backend import check_batch, model_info, open_failure, require_cpu_device, run_in_chunks
from export.metadata import quantization


class OpenVINOBackend:
    name = "openvino"

    def __init__(self, model_path: str | Path, device: str | None = "cpu", threads: int = 2,
                 precision_hint: str = "f32", static_batch: int | None = None, **options):
        import openvino as ov

        if options:
            raise QYoloError(f"openvino backend: unknown options {sorted(options)} "
                             f"(known: threads, precision_hint, static_batch)")
        require_cpu_device(device, self.name)
        if precision_hint not in ("f32", "bf16", "f16"):
            raise QYoloError(f"openvino backend: precision_hint must be f32, bf16 or f16, got {precision_hint!r}")
        self.model_path = Path(model_path)
        info = model_info(self.model_path)
        self.precision, self.metadata = info["precision"], info["metadata"]
        self.quantization = quantization(self.metadata)
        self.threads = int(threads)
        self.hw = info["hw"]
        self.input_size = self.hw[0] if self.hw[0] == self.hw[1] else self.hw
        core = ov.Core()
        try:
            model = core.read_model(str(self.model_path))
        except RuntimeError as exc:
            raise open_failure("OpenVINO", self.model_path, exc) from None
        self.static_batch = info["batch"]
        if static_batch is not None and self.static_batch is None and self.hw[0] is not None:
            model.reshape({model.inputs[0].any_name: [int(static_batch), 3, *self.hw]})
            self.static_batch = int(static_batch)
        config = {"INFERENCE_NUM_THREADS": self.threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
                  "INFERENCE_PRECISION_HINT": precision_hint}
        try:
            self.compiled = core.compile_model(model, "CPU", config)
        except RuntimeError as exc:
            raise QYoloError(f"OpenVINO cannot compile {self.model_path}: {str(exc).splitlines()[0]}") from None
        self.request = self.compiled.create_infer_request()
        outputs = [o.any_name for o in self.compiled.outputs]
        self.output_index = outputs.index(info["output"]) if info["output"] in outputs else 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = check_batch(batch, self.hw, self.model_path)

        def run(x: np.ndarray) -> np.ndarray:
            self.request.infer({0: x})
            return np.array(self.request.get_output_tensor(self.output_index).data, copy=True)

        return run_in_chunks(run, batch, self.static_batch)

    def close(self) -> None:
        self.request = None
        self.compiled = None
