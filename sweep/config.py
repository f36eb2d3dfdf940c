"""SweepConfig: which rows the Table-1 sweep runs (calibration methods x bit widths), validated on construction."""
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from calib.layer_ranges import VARIANTS
from calib.study import CalibrationStudy

METHODS: dict[str, tuple[str, str]] = VARIANTS  # row label -> (calibration method, activation grid)
DEFAULT_METHODS = ("minmax", "percentile", "mse", "entropy", "uh-asym", "uh-sym", "minmax-asym")
DEFAULT_BITS = ((8, 8), (6, 6), (4, 4))
DEFAULT_OUT_DIR = Path("runs/sweep")


@dataclass(frozen=True)
class SweepConfig(CalibrationStudy):
    """The shared settings of calib.study.CalibrationStudy (model, images, device, ap_images: AP on the first N
    validation images; out: None = runs/sweep/<weights stem>), plus: methods: row labels (calib.layer_ranges.VARIANTS:
    a calibration method on an activation grid); bits: (w_bits, a_bits) of every method's rows; ranges: also draw
    calib.plot's clipping ranges of three layers into out/ranges; quantize_matmul: every row also quantizes the
    inputs of attention MatMuls (YOLO11's C2PSA)."""

    methods: Sequence[str] = DEFAULT_METHODS
    bits: Sequence[tuple[int, int]] = DEFAULT_BITS
    ranges: bool = True
    quantize_matmul: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(self.methods))
        object.__setattr__(self, "bits", tuple((int(w), int(a)) for w, a in self.bits))
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown sweep method(s) {unknown}; choose from {list(METHODS)}")
        if not self.methods:
            raise ValueError("give at least one method")
        if not self.bits:
            raise ValueError("give at least one bit width")
        self.validate_study(self.quant(self.methods[0], self.bits[0]), DEFAULT_OUT_DIR)
        for label in self.methods:  # every bad setting before any work
            for bits in self.bits:
                self.calib_config_for(self.quant(label, bits))

    def quant(self, label: str, bits: tuple[int, int]):
        """The calib.QuantConfig of the row `label` at (w_bits, a_bits)."""
        from calib import QuantConfig

        method, scheme = METHODS[label]
        return QuantConfig(method=method, scheme=scheme, w_bits=bits[0], a_bits=bits[1],
                           quantize_matmul=self.quantize_matmul)
