"""Which network typing and builder flags a build uses, decided from the TensorRT version and the precision.

TensorRT 10: weakly typed networks are the default; explicit Q/DQ needs BuilderFlag.INT8, and BuilderFlag.FP16
lets the layers left in float run in half precision. STRONGLY_TYPED exists but then float layers stay FP32.
TensorRT 11: weak typing and every precision flag (FP16, INT8, ...) are removed; networks are always strongly
typed, so an FP16 engine needs an FP16 ONNX (engine.fp16_onnx) and Q/DQ graphs keep float layers in FP32.
Kept free of `import tensorrt` so it is tested everywhere.
"""
from dataclasses import dataclass

from engine.errors import major_version

FIRST_STRONG_ONLY_MAJOR = 11


@dataclass(frozen=True)
class BuildPlan:
    strongly_typed: bool
    flags: tuple[str, ...]        # names of trt.BuilderFlag members to set
    convert_to_fp16_onnx: bool    # strongly typed FP16 needs the graph itself in FP16
    float_layers: str             # what the layers outside Q/DQ run in: "fp16" or "fp32"
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"strongly_typed": self.strongly_typed, "flags": list(self.flags),
                "fp16_onnx": self.convert_to_fp16_onnx, "float_layers": self.float_layers, "notes": list(self.notes)}


def effective_precision(precision: str, has_qdq: bool) -> str:
    """An 'int8' build of a graph without Q/DQ is an FP16 build: no implicit calibration exists any more."""
    return "fp16" if precision == "int8" and not has_qdq else precision


def plan_build(trt_version: str, precision: str, typing: str = "auto", has_qdq: bool = True) -> BuildPlan:
    precision = effective_precision(precision, has_qdq)
    major = major_version(trt_version)
    strong_only = major >= FIRST_STRONG_ONLY_MAJOR
    if typing == "weak" and strong_only:
        raise ValueError(f"TensorRT {trt_version} removed weakly typed networks; use typing 'auto' or 'strong'")
    strong = strong_only or typing == "strong"
    if strong:
        if precision == "fp16":
            return BuildPlan(True, (), True, "fp16", ("FP16 via an FP16 copy of the ONNX (strong typing)",))
        return BuildPlan(True, (), False, "fp32",
                         ("strongly typed: layers outside Q/DQ run in FP32",) if precision == "int8" else ())
    if precision == "int8":
        return BuildPlan(False, ("INT8", "FP16"), False, "fp16",
                         ("weakly typed: Q/DQ layers in INT8, the rest free to use FP16",))
    if precision == "fp16":
        return BuildPlan(False, ("FP16",), False, "fp16")
    return BuildPlan(False, (), False, "fp32")
