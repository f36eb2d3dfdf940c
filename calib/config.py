"""QuantConfig: what to quantize, with which calibrator and grid. Validated on construction."""
import dataclasses
from dataclasses import dataclass
from typing import Any

from calib.calibrators import CALIBRATORS, SYMMETRIC_ONLY
from calib.quant_desc import MAX_BITS, MIN_BITS, QuantDesc

SCHEMES = ("sym", "asym")


@dataclass(frozen=True)
class QuantConfig:
    """Settings of `quantize_model`.

    method: activation calibrator (minmax | percentile | mse | entropy | uh). Weights always use symmetric
        per-output-channel MinMax (absmax), as in the paper.
    scheme: activation grid, "sym" (int8-style, zero point 0: TensorRT) or "asym" (uint8-style with integer zero
        point: the published UH, the CPU profile). percentile/mse/entropy fold |x| and are "sym" only.
    w_bits, a_bits: weight and activation bit widths, independent, 2..8.
    skip_first_conv: keep the first nn.Conv2d met in module order in float (the stem conv on the raw image).
    float_head_classes: every conv inside a module whose class name is listed stays in float. ("Detect",) keeps
        YOLOv5's output 1x1 convs in float whatever the model's depth or width: its Detect layer is "model.24" in
        the P5 models and "model.33" in P6 ones, so a fixed name glob would be wrong for one of them.
    skip: extra fnmatch globs on module names (e.g. "model.9.*"); a matching Conv2d/MaxPool2d stays in float.
    quantize_maxpool: quantize nn.MaxPool2d inputs (YOLOv5's SPPF pools).
    quantize_matmul: quantize both inputs of every common.matmul.MatMul module (YOLO11's attention: q^T k and
        v attn^T), with the activation calibrator and grid. Off by default: the attention MatMuls and the Softmax
        between them stay float (the Softmax is never quantized).
    """

    method: str = "uh"
    scheme: str = "asym"
    w_bits: int = 8
    a_bits: int = 8
    percentile: float = 99.99
    num_bins: int = 2048
    start_bin: int = 128
    skip_first_conv: bool = True
    float_head_classes: tuple[str, ...] = ("Detect",)
    skip: tuple[str, ...] = ()
    quantize_maxpool: bool = True
    quantize_matmul: bool = False

    def __post_init__(self) -> None:
        if self.method not in CALIBRATORS:
            raise ValueError(f"unknown calibration method {self.method!r}; choose one of {sorted(CALIBRATORS)}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {self.scheme!r}; choose 'sym' or 'asym'")
        if self.scheme == "asym" and self.method in SYMMETRIC_ONLY:
            raise ValueError(f"method {self.method!r} folds |x| (NVIDIA semantics) and is symmetric only; "
                             "use scheme='sym', or method 'uh' / 'minmax' for an asymmetric grid")
        for field in ("w_bits", "a_bits"):
            bits = getattr(self, field)
            if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
                raise ValueError(f"{field} must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
        if not 0.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile!r}")
        if not isinstance(self.num_bins, int) or self.num_bins < 2:
            raise ValueError(f"num_bins must be an integer >= 2, got {self.num_bins!r}")
        if not isinstance(self.start_bin, int) or not 0 <= self.start_bin < self.num_bins:
            raise ValueError(f"start_bin must be an integer in 0..num_bins-1 ({self.num_bins - 1}), "
                             f"got {self.start_bin!r}")
        for field in ("skip_first_conv", "quantize_maxpool", "quantize_matmul"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"{field} must be true or false, got {getattr(self, field)!r}")
        # Lists from JSON or argparse become tuples so the config stays hashable and immutable.
        for field in ("skip", "float_head_classes"):
            value = getattr(self, field)
            if isinstance(value, str):
                raise ValueError(f"{field} must be a list of strings, got the single string {value!r}")
            object.__setattr__(self, field, tuple(value))

    @property
    def activation_desc(self) -> QuantDesc:
        return QuantDesc(num_bits=self.a_bits, symmetric=self.scheme == "sym", axis=None)

    @property
    def weight_desc(self) -> QuantDesc:
        """Per-output-channel symmetric: axis 0 of a Conv2d weight [out, in/groups, kh, kw]."""
        return QuantDesc(num_bits=self.w_bits, symmetric=True, axis=0)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["skip"], data["float_head_classes"] = list(self.skip), list(self.float_head_classes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "QuantConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown QuantConfig fields {unknown}; known: {sorted(known)}")
        return cls(**data)
