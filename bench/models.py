"""`python -m bench models`: the built-in benchmark models (also what `python -m bench cpu --arch` times).

A named architecture of any family (yolov5n..x, yolov7, yolov7-tiny, yolov8n..x, yolo11n..x; random weights: latency
does not depend on the values) as FP32 and as INT8, calibrated with minmax on a few synthetic images.

Files: <root>/<arch>-<imgsz>/fp32.onnx, minmax-asym-w8a8-cpu.onnx (Q/DQ completed for ONNX Runtime's uint8
kernels), minmax-asym-w8a8-cpuexact.onnx (Q/DQ only at the calibrated quantizers, which OpenVINO and TensorRT
need and ONNX Runtime runs slowly), minmax-sym-w8a8-trt.onnx (int8 symmetric activations, the TensorRT
profile: on ONNX Runtime's CPU kernels the reason the cpu profile is uint8) and
minmax-asym-w8a8-int8stem-cpuexact.onnx / minmax-sym-w8a8-int8stem-trt.onnx (the first conv quantized too:
OpenVINO runs it in int8; ONNX Runtime's uint8 kernel is slower on 3 input channels than its float one).
Models with attention MatMuls (YOLO11's C2PSA) get two more, minmax-asym-w8a8-qmatmul-cpu / -cpuexact: the same
with the MatMul inputs quantized too (QuantConfig.quantize_matmul; the default keeps them float).
Built once, reused while they exist (rebuild=True to redo).
"""
import argparse
import copy
from pathlib import Path

import numpy as np
import torch

from common.errors import QYoloError
from common.log import get_logger

VARIANTS = ("fp32", "minmax-asym-w8a8-cpu", "minmax-asym-w8a8-cpuexact", "minmax-sym-w8a8-trt",
            "minmax-asym-w8a8-int8stem-cpuexact", "minmax-sym-w8a8-int8stem-trt")
MATMUL_VARIANTS = ("minmax-asym-w8a8-qmatmul-cpu", "minmax-asym-w8a8-qmatmul-cpuexact")


def synthetic_batches(imgsz: int, n: int, seed: int = 0) -> list[np.ndarray]:
    """Smooth random colour fields with a few bright blobs: cheaper than real images, not pure noise."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(n):
        low = rng.random((1, 3, 8, 8)).astype(np.float32)
        image = torch.nn.functional.interpolate(torch.from_numpy(low), size=(imgsz, imgsz), mode="bilinear",
                                                align_corners=False).numpy()
        yy, xx = np.mgrid[0:imgsz, 0:imgsz]
        for _ in range(5):
            cy, cx, r = rng.integers(0, imgsz, 2).tolist() + [int(rng.integers(imgsz // 20, imgsz // 6))]
            image[0, :, (yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.random(3).astype(np.float32)
        batches.append(np.clip(image, 0, 1).astype(np.float32))
    return batches


def build_models(arch: str, imgsz: int, root: str | Path, calib_images: int = 4, rebuild: bool = False,
                 nc: int = 80, anchors: bool = False) -> list[Path]:
    """Export (or reuse) the default benchmark models for `arch` (a model name of any family) at `imgsz`; returns
    their paths.
    anchors=True adds the runtimes' own quantizers' graphs of the FP32 one (bench.anchors)."""
    paths = _build_project_models(arch, imgsz, root, calib_images, rebuild, nc)
    if anchors:
        from bench.anchors import build_anchors

        paths += list(build_anchors(paths[0], synthetic_batches(imgsz, calib_images), paths[0].parent,
                                    rebuild=rebuild).values())
    return paths


def _build_project_models(arch: str, imgsz: int, root: str | Path, calib_images: int, rebuild: bool,
                          nc: int) -> list[Path]:
    from calib import QuantConfig, collect_and_compute, quantize_model
    from calib.stage import with_family_float_head
    from common.matmul import MatMul
    from export import ExportConfig, export_model
    from yolo.registry import build_model, fuse_model, named_config

    cfg = named_config(arch)
    if cfg is None:
        raise QYoloError(f"unknown --arch {arch!r}; give a model name such as yolov5s, yolov7-tiny, yolov8n or yolo11s")
    torch.manual_seed(0)
    model = build_model(cfg, nc=nc)
    has_matmul = any(isinstance(m, MatMul) for m in model.modules())
    folder = Path(root) / f"{arch}-{imgsz}"
    paths = [folder / f"{name}.onnx" for name in VARIANTS + (MATMUL_VARIANTS if has_matmul else ())]
    if not rebuild and all(p.is_file() for p in paths):
        return paths
    get_logger().info(f"building the benchmark models for {arch} at {imgsz} (random weights) in {folder}")
    fuse_model(model)
    model.eval()
    export_model(model, ExportConfig(out=paths[0], weights=f"{arch} (random weights)", profile="fp32",
                                     imgsz=imgsz), {"source": f"{arch} random weights"})
    batches = synthetic_batches(imgsz, calib_images)
    quantized = quantize_model(copy.deepcopy(model),
                               with_family_float_head(QuantConfig(method="minmax", scheme="asym"), model))
    collect_and_compute(quantized, [torch.from_numpy(b) for b in batches], progress=False)
    meta = {"source": f"{arch} random weights, minmax on {calib_images} synthetic images"}
    export_model(quantized, ExportConfig(out=paths[1], profile="cpu", imgsz=imgsz), meta,
                 batches)
    export_model(quantized, ExportConfig(out=paths[2], profile="cpu", imgsz=imgsz,
                                         integer_ops=False), meta)
    symmetric = quantize_model(copy.deepcopy(model),
                               with_family_float_head(QuantConfig(method="minmax", scheme="sym"), model))
    collect_and_compute(symmetric, [torch.from_numpy(b) for b in batches], progress=False)
    export_model(symmetric, ExportConfig(out=paths[3], profile="trt", imgsz=imgsz), meta)
    for scheme, profile, out in (("asym", "cpu", paths[4]), ("sym", "trt", paths[5])):
        stem = quantize_model(copy.deepcopy(model), with_family_float_head(
            QuantConfig(method="minmax", scheme=scheme, skip_first_conv=False), model))
        collect_and_compute(stem, [torch.from_numpy(b) for b in batches], progress=False)
        export_model(stem, ExportConfig(out=out, profile=profile, imgsz=imgsz,
                                        integer_ops=False if profile == "cpu" else None), meta)
    if has_matmul:
        both = quantize_model(copy.deepcopy(model), with_family_float_head(
            QuantConfig(method="minmax", scheme="asym", quantize_matmul=True), model))
        collect_and_compute(both, [torch.from_numpy(b) for b in batches], progress=False)
        export_model(both, ExportConfig(out=paths[6], profile="cpu", imgsz=imgsz), meta, batches)
        export_model(both, ExportConfig(out=paths[7], profile="cpu", imgsz=imgsz, integer_ops=False), meta)
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`python -m bench models`: build (or reuse) the models without timing them; prints their paths."""
    from common.cli import image_size, positive_int
    from yolo.registry import model_names

    parser.add_argument("--arch", nargs="+", required=True, choices=model_names(), metavar="ARCH",
                        help="architectures, e.g. yolov5s yolov7-tiny yolov8n yolo11s")
    parser.add_argument("--imgsz", nargs="+", type=image_size, default=[640], help="input sizes (default 640)")
    parser.add_argument("--root", type=Path, default=Path("runs/bench/models"), help="<root>/<arch>-<imgsz>/")
    parser.add_argument("--calib-images", type=positive_int, default=4, help="synthetic images the INT8 ranges see")
    parser.add_argument("--rebuild", action="store_true", help="re-export models that exist")
    parser.add_argument("--anchors", action="store_true", help="also ONNX Runtime's and NNCF's INT8 graphs")


def run(args: argparse.Namespace) -> int:
    for arch in args.arch:
        for size in args.imgsz:
            for path in build_models(arch, size, args.root, args.calib_images, args.rebuild, anchors=args.anchors):
                print(path)
    return 0
