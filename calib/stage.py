"""The calibration stage: checkpoint + calibration images -> calibrated artifact (`calib.calibrate(CalibConfig)`).

    path = calib.calibrate(calib.CalibConfig(quant=calib.QuantConfig(method="uh", scheme="asym", w_bits=8, a_bits=8)))

Steps: load the FP32 checkpoint fused (Conv+BN folded) -> `quantize_model` by rules -> one pass of calibration
batches (letterboxed as YOLOv5 val) through the model in calibration mode -> ranges -> artifact + JSON sidecar.
`calibrate_bit_widths` writes several bit widths from that one pass (the statistics do not depend on the width).
"""
import dataclasses
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Sequence

import torch

from calib.artifact import save_artifact
from calib.collect import collect_and_compute
from calib.config import QuantConfig
from calib.data import CalibrationImages, calibration_image_paths
from calib.modes import quantizers
from calib.recompute import recompute_ranges
from calib.replace import quantize_model
from common import validate
from common.atomic import check_output_file
from common.errors import QYoloError
from common.log import get_logger
from common.provenance import file_sha256
from common.threads import torch_threads
from common.timing import StepTimes
from yolo.checkpoint import trained_imgsz

PAPER_NUM_IMAGES = 1500  # the paper calibrates on 1,500 train2017 images
FIXTURE_NUM_IMAGES = 256  # the synthetic calibration split holds 256 images
DEFAULT_OUT_DIR = Path("runs/calib")


def with_family_float_head(quant: QuantConfig, model: torch.nn.Module) -> QuantConfig:
    """`quant` with the float head of the model's family: its head classes, or its finer module-name rule
    (YOLOv8/11: only the branch output convs and the DFL conv, not the head's 3x3 convs)."""
    from yolo.registry import family_of_model

    family = family_of_model(model)
    if family.float_modules is not None:
        return dataclasses.replace(quant, float_head_classes=(), skip=tuple(quant.skip) + family.float_modules(model))
    return dataclasses.replace(quant, float_head_classes=family.float_head_classes)


def artifact_name(quant: QuantConfig) -> str:
    return f"{quant.method}-{quant.scheme}-w{quant.w_bits}a{quant.a_bits}.pt"


def _fixture_weights() -> Path:
    from yolo.fixture import FIXTURE_WEIGHTS

    return Path(FIXTURE_WEIGHTS)


@dataclass(frozen=True)
class CalibConfig:
    """What `calibrate` does; validated on construction (ValueError naming the bad value).

    quant: what to quantize and how (method, scheme, bits, skips): a calib.QuantConfig, validated there.
    weights: FP32 checkpoint (ultralytics .pt, q-yolo state dict, or a plain state_dict with `cfg`); the fixture.
    data: calibration images, a folder (recursive) or a dataset (COCO JSON / folder, YOLO data yaml); None = the
        synthetic calibration split of the fixture (generated on first use).
    num_images: images drawn with `seed` from `data`; None = 256 for the synthetic split, else the paper's 1,500.
    imgsz: letterbox size; None = the size the checkpoint records it was trained at (256 for the fixtures), else
        640.
    out: artifact path; None = runs/calib/<method>-<scheme>-w<W>a<A>.pt. threads: torch CPU threads (None: torch's).
    """

    quant: QuantConfig = field(default_factory=QuantConfig)
    weights: str | Path | None = None
    data: str | Path | None = None
    num_images: int | None = None
    batch_size: int = 16
    imgsz: int | None = None
    device: str = "cpu"
    seed: int = 0
    out: str | Path | None = None
    threads: int | None = None
    cfg: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.quant, QuantConfig):
            raise ValueError(f"quant must be a calib.QuantConfig, got {type(self.quant).__name__}")

        def set_(name, value):  # frozen dataclass: defaults are filled in once, here
            object.__setattr__(self, name, value)

        weights = Path(self.weights) if self.weights is not None else _fixture_weights()
        set_("weights", weights)
        if self.num_images is None:
            set_("num_images", FIXTURE_NUM_IMAGES if self.data is None else PAPER_NUM_IMAGES)
        if self.imgsz is None:
            set_("imgsz", trained_imgsz(weights) or 640)
        for name in ("num_images", "batch_size"):
            validate.positive_int(getattr(self, name), name)
        validate.image_size(self.imgsz)
        if self.threads is not None:
            validate.thread_count(self.threads, "threads")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        validate.torch_device(self.device)
        if self.out is None:
            set_("out", DEFAULT_OUT_DIR / artifact_name(self.quant))
        set_("out", Path(self.out))
        if self.data is not None:
            set_("data", Path(self.data))

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "quant"}
        return {"quant": self.quant.to_dict(), **{k: str(v) if isinstance(v, Path) else v for k, v in data.items()}}


def calibrate(config: CalibConfig) -> Path:
    """Calibrate config.weights on config.data; write the artifact (config.out) and its sidecar; return the path."""
    return calibrate_bit_widths(config, [(config.quant.w_bits, config.quant.a_bits)], out_paths=[config.out])[0]


def calibrate_bit_widths(config: CalibConfig, bit_widths: Sequence[tuple[int, int]], out_dir: str | Path | None = None,
                         out_paths: Sequence[str | Path] | None = None) -> list[Path]:
    """One pass of the calibration images, one artifact per (w_bits, a_bits); returns their paths.

    Artifacts go to `out_paths` (one per bit width) or `out_dir`/<method>-<scheme>-w<W>a<A>.pt (out_dir defaults
    to config.out's folder). config.quant's bit widths are ignored here; its method, scheme and the rest apply to all.
    """
    bit_widths = [(int(w), int(a)) for w, a in bit_widths]
    if not bit_widths:
        raise ValueError("give at least one (w_bits, a_bits) pair")
    quant_configs = [dataclasses.replace(config.quant, w_bits=w, a_bits=a) for w, a in bit_widths]
    if out_paths is None:
        folder = Path(out_dir) if out_dir is not None else Path(config.out).parent
        out_paths = [folder / artifact_name(quant) for quant in quant_configs]
    elif len(out_paths) != len(bit_widths):
        raise ValueError(f"{len(out_paths)} output paths for {len(bit_widths)} bit widths")
    with torch_threads(config.threads):
        return _run(config, quant_configs, [Path(p) for p in out_paths])


def _check_skip_globs(model: torch.nn.Module, config: CalibConfig) -> None:
    """A --skip glob that matches no module is a typo, not a no-op: say so with names that exist."""
    names = [name for name, _ in model.named_modules() if name]
    for pattern in config.quant.skip:
        if not any(fnmatchcase(name, pattern) for name in names):
            examples = ", ".join([name for name in names if name.count(".") == 2][:4])
            raise QYoloError(f"--skip {pattern!r} matches no module of {config.weights}; module names look like "
                             f"{examples}... (e.g. --skip 'model.9.*')")


@dataclass
class CalibrationPass:
    """A model calibrated on images, its calibrators still holding their statistics: ranges for other bit widths or
    another per-layer plan come from `calib.recompute_ranges` without the images. `quant` is the config it was
    quantized with (the family's float head filled in); `meta` what an artifact records of the pass."""

    model: torch.nn.Module
    quant: QuantConfig
    meta: dict[str, Any]
    timings: dict[str, float]


def run_calibration(config: CalibConfig, quant: QuantConfig | None = None) -> CalibrationPass:
    """Load config.weights fused, quantize it with `quant` (default config.quant), calibrate it on config.data."""
    from yolo.checkpoint import load_model
    from yolo.memory import check_batch_fits

    log = get_logger()
    times = StepTimes()
    if torch.device(config.device).type == "cuda" and not torch.cuda.is_available():
        raise QYoloError(f"device {config.device!r} asked but CUDA is not available here; use --device cpu")
    source = config.data
    if source is None:
        from yolo.fixture import fixture_calib_images

        source = fixture_calib_images(progress=config.progress)
    paths = calibration_image_paths(source, config.num_images, config.seed)
    with times.step("load_model_s"):
        model = load_model(config.weights, cfg=config.cfg, fuse=True, device=config.device)
        check_batch_fits(model, config.imgsz, config.batch_size, f"calibrating {config.weights}")
    quant = quant or config.quant
    # A float head asked for (the default; --quantize-head empties it) is the model family's own float head.
    if quant.float_head_classes:
        quant = with_family_float_head(quant, model)
    _check_skip_globs(model, config)
    try:
        quantize_model(model, quant)
    except ValueError as exc:  # a per-layer width naming no quantized layer
        raise QYoloError(f"{config.weights}: {exc}") from None
    if not any(True for _ in quantizers(model)):
        rules = ", ".join(f"--skip {p!r}" for p in config.quant.skip) or "the default skips"
        raise QYoloError(f"nothing left to quantize in {config.weights}: with {rules}, every Conv2d/MaxPool2d stays in "
                         "float; narrow --skip")
    images = CalibrationImages(paths, config.imgsz, config.batch_size)
    log.info(f"calibrating {config.weights} with {quant.method}/{quant.scheme} on {len(paths)} images of "
             f"{source} at {config.imgsz} px, batch {config.batch_size}, {config.device}, "
             f"{torch.get_num_threads()} thread(s)")
    try:
        with times.step("collect_s"):
            collect_and_compute(model, images, progress=config.progress)
    except QYoloError:
        if not images.used:
            raise QYoloError(f"none of the {len(paths)} calibration images of {source} could be decoded; "
                             "check the image folder") from None
        raise
    # the pass's time split into decoding the images (timed by the reader) and the rest
    times.add("images_s", images.load_seconds)
    times.add("collect_s", -images.load_seconds)
    timings = {**times.seconds, "calibration_s": times.total()}
    source = Path(source).resolve()  # absolute: the export of the cpu profile re-reads them from anywhere
    meta = {
        "imgsz": config.imgsz, "data": str(source),
        "calibration": {"data": str(source), "num_images_asked": config.num_images, "num_images": len(images.used),
                        "images": [str(Path(p).resolve()) for p in images.used],
                        "skipped_images": [str(p) for p in images.skipped],
                        "seed": config.seed, "batch_size": config.batch_size, "device": config.device,
                        "threads": torch.get_num_threads(), "config": config.to_dict()},
        "source": {"weights": str(config.weights), "sha256": file_sha256(config.weights)},
    }
    return CalibrationPass(model, quant, meta, timings)


def _run(config: CalibConfig, quant_configs: list[QuantConfig], out_paths: list[Path]) -> list[Path]:
    log = get_logger()
    for out in out_paths:  # before the work, not after it
        check_output_file(out)
    calibrated = run_calibration(config, quant_configs[0])
    model, shared = calibrated.model, calibrated.timings
    written = []
    for index, (quant_config, out) in enumerate(zip(quant_configs, out_paths)):
        quant_config = dataclasses.replace(calibrated.quant, w_bits=quant_config.w_bits, a_bits=quant_config.a_bits,
                                           layer_bits=quant_config.layer_bits)
        step = StepTimes()
        with step.step("recompute_s"):
            if index:  # the first width's ranges came with the collection pass
                recompute_ranges(model, quant_config)
        timings = {key: value for key, value in shared.items() if key != "calibration_s"}
        timings.update(recompute_s=step.seconds["recompute_s"],
                       total_s=shared["calibration_s"] + step.seconds["recompute_s"])
        save_artifact(out, model, quant_config, {**calibrated.meta, "timings": timings})
        log.info(f"wrote {out} (W{quant_config.w_bits}A{quant_config.a_bits}, "
                 f"{calibrated.meta['calibration']['num_images']} images, {timings['total_s']:.1f} s)")
        written.append(out)
    return written
