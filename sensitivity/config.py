"""SensitivityConfig: what `analyze_sensitivity` measures, validated on construction (ValueError naming the value)."""
from dataclasses import dataclass
from pathlib import Path

from calib.study import LayerStudy
from common import validate

VIEWS = ("alone", "float")
DEFAULT_OUT_DIR = Path("runs/sensitivity")


@dataclass(frozen=True)
class SensitivityConfig(LayerStudy):
    """The shared settings of calib.study.LayerStudy (model, images, calibrator, device, out: None =
    runs/sensitivity/<weights stem>), plus: w_bits, a_bits: the quantization judged; top_k: layers per view also
    scored with AP (the proxy ranks every layer on proxy_images images).
    """

    w_bits: int = 4
    a_bits: int = 4
    top_k: int = 6

    def __post_init__(self) -> None:
        validate.non_negative_int(self.top_k, "top_k")
        self.validate_study(self.bits, DEFAULT_OUT_DIR)

    @property
    def bits(self) -> tuple[int, int]:
        return self.w_bits, self.a_bits
