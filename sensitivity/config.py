"""SensitivityConfig: what `analyze_sensitivity` measures, validated on construction (ValueError naming the value)."""
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import validate

VIEWS = ("alone", "float")
DEFAULT_OUT_DIR = Path("runs/sensitivity")


def default_device() -> str:
    """CUDA where a GPU is present, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class SensitivityConfig:
    """weights: FP32 checkpoint (None: the embedded fixture); calib_data: calibration images (None: the synthetic
    calibration split); val_data: the validation set AP is measured on (None: the synthetic validation split).
    method, scheme, w_bits, a_bits: the quantization judged, as calib.QuantConfig takes them.
    num_images: calibration images (None: calib's default); proxy_images: images the proxy runs every layer on,
    drawn from the calibration source with seed + 1; top_k: layers per view also scored with AP; ap_images: the
    first N validation images AP uses (None: all). device: None = CUDA where present, else CPU.
    out: folder for sensitivity.json / .png (None: runs/sensitivity/<weights stem>).
    """

    weights: str | Path | None = None
    cfg: str | None = None
    calib_data: str | Path | None = None
    val_data: str | Path | None = None
    method: str = "uh"
    scheme: str = "asym"
    w_bits: int = 4
    a_bits: int = 4
    num_images: int | None = None
    imgsz: int | None = None
    batch: int = 16
    device: str | None = None
    threads: int | None = 1
    seed: int = 0
    proxy_images: int = 8
    top_k: int = 6
    ap_images: int | None = None
    out: str | Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.device is None:
            object.__setattr__(self, "device", default_device())
        for name in ("batch", "proxy_images"):
            validate.positive_int(getattr(self, name), name)
        validate.non_negative_int(self.top_k, "top_k")
        if self.ap_images is not None:
            validate.positive_int(self.ap_images, "ap_images")
        calib = self.calib_config()  # validates weights, bits, method/scheme, imgsz, device, threads, seed
        if self.out is None:
            object.__setattr__(self, "out", DEFAULT_OUT_DIR / Path(calib.weights).stem)
        object.__setattr__(self, "out", Path(self.out))
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"out {self.out} is an existing file; give a folder")

    def calib_config(self):
        from calib import CalibConfig, QuantConfig

        quant = QuantConfig(method=self.method, scheme=self.scheme, w_bits=self.w_bits, a_bits=self.a_bits)
        return CalibConfig(quant=quant, weights=self.weights, cfg=self.cfg, data=self.calib_data,
                           num_images=self.num_images, batch_size=self.batch, imgsz=self.imgsz, device=self.device,
                           seed=self.seed, threads=self.threads, progress=self.progress)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: str(v) if isinstance(v := getattr(self, f.name), Path) else v
                for f in dataclasses.fields(self)}
