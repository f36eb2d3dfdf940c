"""ExportConfig: what to export and how. Validated on construction (ValueError naming the bad value)."""
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common import validate

PROFILES = ("trt", "cpu", "fp32")
# Per-channel QuantizeLinear/DequantizeLinear (the `axis` attribute) exists from opset 13 on.
MIN_QDQ_OPSET = 13
# The TorchScript exporter writes opsets up to 20; 17 is what TensorRT 8.6-10 and every runtime here read.
MAX_OPSET = 20
DEFAULT_OPSET = 17


@dataclass(frozen=True)
class ExportConfig:
    """Settings of `export_onnx`.

    artifact: a calibrated artifact (`python -m calib`), for the `trt` and `cpu` profiles.
    weights: an FP32 checkpoint, for the `fp32` profile (an artifact also works: its quantizers are then ignored).
        `export_onnx` needs one of the two; `export_model`, given the model itself, needs neither.
    profile: `trt` (int8 symmetric activations, zero point 0, per-channel int8 weights on axis 0; the placement
        rules of export.placement), `cpu` (uint8 asymmetric activations, int8 per-channel weights) or `fp32`.
        Bit widths below 8 in the artifact are exported as INT4(-or-other)-emulation: weights on the b-bit grid
        stored through int8 Q/DQ, activations clipped to the b-bit range before an int8/uint8 Q/DQ.
    out: the .onnx path (a JSON sidecar `<out>.json` is written beside it).
    imgsz: square input size; batch: static batch size, or the example batch when dynamic_batch.
    opset: ONNX opset, 13..20 (per-channel Q/DQ needs 13).
    placement: apply export.placement's rules (shared Concat scales, MaxPool/Resize scale pass-through,
        quantized residual-Add inputs). Default: on for `trt` and `cpu` at 8-bit activations, off below (INT4
        emulation is there to measure accuracy, and the rules move values by up to a step, which costs far more AP
        on a 4-bit grid than on an 8-bit one: docs/history.md has the figures). Off keeps Q/DQ exactly where the
        artifact's quantizers are, so the graph computes what the torch fake-quant model computes.
    integer_ops: `cpu` only. Complete the graph with calibrated Q/DQ at conv outputs, sigmoid outputs and the
        conv branch of residual Adds so that ONNX Runtime fuses every conv/SiLU/Add/Concat into QLinear* kernels
        (without them ORT dequantizes and runs float convolutions: slower than FP32). Needs calibration images
        (calib_data, or the ones the artifact's calibration used). Default: on for `cpu` at 8 bits; off for
        emulated grids below 8 bits, where the extra 8-bit roundings before a 4-bit quantizer cost AP (docs/history.md
        has the figure; W4A4 is about accuracy: ORT then runs the exact graph, at FP32-or-slower speed).
    calib_data: images (folder or COCO json) for the integer_ops ranges; calib_images: how many of them.
    """

    out: str | Path
    profile: str = "trt"
    artifact: str | Path | None = None
    weights: str | Path | None = None
    imgsz: int | None = None  # None: the size the artifact was calibrated at (the checkpoint trained at), else 640
    batch: int = 1
    dynamic_batch: bool = False
    opset: int = DEFAULT_OPSET
    placement: bool | None = None
    integer_ops: bool | None = None
    calib_data: str | Path | None = None
    calib_images: int = 64
    calib_seed: int = 0
    extra_metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check_source()
        for name in ("batch", "calib_images"):
            validate.positive_int(getattr(self, name), name)
        if self.imgsz is None:
            from yolo.checkpoint import trained_imgsz

            source = self.artifact if self.artifact is not None else self.weights
            object.__setattr__(self, "imgsz", (trained_imgsz(source) if source is not None else None) or 640)
        validate.image_size(self.imgsz)
        self._check_opset()
        if self.profile == "fp32" and (self.placement or self.integer_ops):
            raise ValueError("placement and integer_ops apply to the quantized profiles (trt, cpu), not fp32")
        if self.integer_ops and self.profile != "cpu":
            raise ValueError(f"integer_ops completes graphs for ONNX Runtime's uint8 kernels: profile 'cpu' only, "
                             f"got {self.profile!r} (TensorRT fuses conv+activation without it)")
        if not str(self.out).endswith(".onnx"):
            raise ValueError(f"out must be an .onnx path, got {str(self.out)!r}")

    def _check_source(self) -> None:
        """The profile, and a source that fits it (a calibrated artifact, or FP32 weights for the fp32 profile)."""
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; choose one of {', '.join(PROFILES)}")
        if self.artifact is not None and self.weights is not None:
            raise ValueError("give either artifact or weights, not both")
        if self.profile != "fp32" and self.weights is not None:
            raise ValueError(f"profile {self.profile!r} needs a calibrated artifact (python -m calib); "
                             f"weights={self.weights!s} is an FP32 checkpoint: use profile 'fp32' for it")

    def _check_opset(self) -> None:
        if isinstance(self.opset, bool) or not isinstance(self.opset, int):
            raise ValueError(f"opset must be an integer, got {self.opset!r}")
        if self.opset > MAX_OPSET:
            raise ValueError(f"opset {self.opset} is newer than the exporter writes (max {MAX_OPSET})")
        if self.opset < MIN_QDQ_OPSET and self.profile != "fp32":
            raise ValueError(f"opset {self.opset} is too old for per-channel Q/DQ (QuantizeLinear's axis attribute "
                             f"needs opset {MIN_QDQ_OPSET}); use --opset {DEFAULT_OPSET}")
        if self.opset < 11:
            raise ValueError(f"opset {self.opset} is too old (Resize/Range need 11); use --opset {DEFAULT_OPSET}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("out", "artifact", "weights", "calib_data"):
            if data[key] is not None:
                data[key] = str(data[key])
        return data
