"""The settings shared by work that calibrates a model and scores what comes out (the Table-1 sweep, layer
sensitivity, mixed precision): which model, which images, where AP is measured, on what.

- CalibrationStudy: model, calibration and validation images, batch, device, threads, seed, the output folder.
- LayerStudy: a CalibrationStudy of one calibrator's layers (method, scheme, proxy images): sensitivity, mixed.
calib.study_cli gives every study the same command-line options for these fields.
"""
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import validate


def default_device() -> str:
    """CUDA where a GPU is present, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class CalibrationStudy:
    """weights: FP32 checkpoint (None: the embedded fixture); cfg: its model yaml where the checkpoint lacks one;
    calib_data: calibration images (None: the synthetic calibration split); val_data: the validation set AP is
    measured on (None: the synthetic validation split). num_images: calibration images (None: calib's default);
    imgsz: None = calib's default (the checkpoint's training size, else 640). device: None = CUDA where present,
    else CPU. ap_images: the first N validation images AP uses (None: all). out: the report folder (None: a folder
    named after the weights, under the study's own root).
    """

    weights: str | Path | None = None
    cfg: str | None = None
    calib_data: str | Path | None = None
    val_data: str | Path | None = None
    num_images: int | None = None
    imgsz: int | None = None
    batch: int = 16
    device: str | None = None
    threads: int | None = 1
    seed: int = 0
    ap_images: int | None = None
    out: str | Path | None = None
    progress: bool = True

    def validate_study(self, quant, default_out_dir: Path) -> None:
        """Check the shared settings (calib.CalibConfig with `quant`, a calib.QuantConfig, checks weights, imgsz,
        device, threads and seed) and fill in the device and the output folder."""
        if self.device is None:
            object.__setattr__(self, "device", default_device())
        validate.positive_int(self.batch, "batch")
        if self.ap_images is not None:
            validate.positive_int(self.ap_images, "ap_images")
        calib = self.calib_config_for(quant)
        if self.out is None:
            object.__setattr__(self, "out", default_out_dir / Path(calib.weights).stem)
        object.__setattr__(self, "out", Path(self.out))
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"out {self.out} is an existing file; give a folder")

    def checked_val_data(self) -> Path:
        """The validation set AP is measured on (the synthetic one by default), opened once before any work so
        that a missing or damaged set is one line at once rather than after the calibration."""
        from yolo.datasets import open_dataset

        if self.val_data is None:
            from yolo.fixture import fixture_val_data

            return fixture_val_data(progress=self.progress)
        open_dataset(self.val_data)
        return Path(self.val_data)

    def checked_calib_data(self) -> Path:
        """The calibration images (the synthetic split, generated on first use, by default)."""
        if self.calib_data is None:
            from yolo.fixture import fixture_calib_images

            return fixture_calib_images(progress=self.progress)
        return Path(self.calib_data)

    def calib_config_for(self, quant):
        """The calibration these settings run with `quant` (a calib.QuantConfig)."""
        from calib import CalibConfig

        return CalibConfig(quant=quant, weights=self.weights, cfg=self.cfg, data=self.calib_data,
                           num_images=self.num_images, batch_size=self.batch, imgsz=self.imgsz, device=self.device,
                           seed=self.seed, threads=self.threads, progress=self.progress)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: str(v) if isinstance(v := getattr(self, f.name), Path) else v
                for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class LayerStudy(CalibrationStudy):
    """A CalibrationStudy of one calibrator: method, scheme as calib.QuantConfig takes them; proxy_images: images
    the cheap per-layer proxy runs on, drawn from the calibration source with seed + 1."""

    method: str = "uh"
    scheme: str = "asym"
    proxy_images: int = 8

    def validate_study(self, bits: tuple[int, int], default_out_dir: Path) -> None:
        validate.positive_int(self.proxy_images, "proxy_images")
        super().validate_study(self.quant(bits), default_out_dir)

    def quant(self, bits: tuple[int, int]):
        """The study's calibrator at (w_bits, a_bits), as a calib.QuantConfig."""
        from calib import QuantConfig

        return QuantConfig(method=self.method, scheme=self.scheme, w_bits=bits[0], a_bits=bits[1])

    def calib_config(self, bits: tuple[int, int]):
        """The calibration these settings run at (w_bits, a_bits)."""
        return self.calib_config_for(self.quant(bits))
