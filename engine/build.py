"""QDQ (or FP32) ONNX -> serialized TensorRT engine + JSON sidecar + layer-precision report.

Explicit quantization only: the INT8 scales come from the Q/DQ nodes the export stage wrote (TensorRT 10
deprecated and 11 removed implicit calibration). TensorRT is imported inside the functions, so this module
imports on machines without it. API used (TensorRT 10.x and 11.x Python): Builder, create_network,
OnnxParser.parse_from_file, create_builder_config, set_memory_pool_limit(MemoryPoolType.WORKSPACE),
create_timing_cache/set_timing_cache/get_timing_cache().serialize(), create_optimization_profile/set_shape,
build_serialized_network, Runtime.deserialize_cuda_engine, create_engine_inspector (LayerInformationFormat.JSON).
"""
import time
from pathlib import Path

from common.atomic import write_bytes_atomic, write_text_atomic
from common.errors import QYoloError
from common.log import get_logger
from common.provenance import file_sha256, sidecar_path, versions
from engine.build_plan import BuildPlan, effective_precision, plan_build
from engine.config import EngineConfig, ProfileShapes, profile_shapes
from engine.device import gpu_info, require_cuda
from engine.errors import check_int8_support, checked, format_parser_errors, import_tensorrt, parser_error_text
from engine.inspector import format_precision_report, parse_layers, summarize_layers
from engine.onnx_checks import OnnxSummary, check_for_tensorrt, summarize_onnx
from engine.sidecar import make_sidecar, write_sidecar


def network_flags(trt, strongly_typed: bool) -> int:
    """Creation flags: STRONGLY_TYPED when wanted (and still an enum member); EXPLICIT_BATCH is never needed in 10+."""
    if not strongly_typed:
        return 0
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def _build_progress(trt):
    """A tqdm bar per top-level build phase through trt.IProgressMonitor (TensorRT 10+); None where absent."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None
    import threading

    from tqdm import tqdm

    class TqdmBuildMonitor(base):
        """TensorRT calls these from several builder threads: the lock keeps the bar table consistent."""

        def __init__(self):
            base.__init__(self)
            self.bars = {}
            self.lock = threading.Lock()

        def phase_start(self, phase_name, parent_phase, num_steps):
            if parent_phase is None:  # nested phases would stack dozens of bars
                with self.lock:
                    self.bars[phase_name] = tqdm(total=num_steps, desc=f"TensorRT: {phase_name}", leave=False)

        def step_complete(self, phase_name, step):
            with self.lock:
                bar = self.bars.get(phase_name)
                if bar is not None:
                    bar.update(1)
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            with self.lock:
                bar = self.bars.pop(phase_name, None)
                if bar is not None:
                    bar.close()

    return TqdmBuildMonitor()


def _parse_onnx(trt, network, logger, onnx_path: Path):
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [parser_error_text(parser.get_error(i)) for i in range(parser.num_errors)]
        raise QYoloError(format_parser_errors(str(onnx_path), errors))
    return parser  # keep alive: the network may reference parser-owned weights until the build ends


def _configure(trt, builder, cfg: EngineConfig, plan: BuildPlan, profile: ProfileShapes):
    config = checked(builder.create_builder_config(), "create a builder config", cfg.onnx)
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, cfg.workspace_bytes)
    for name in plan.flags:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is None:  # a flag this TensorRT removed; plan_build should not have asked for it
            raise QYoloError(f"TensorRT {trt.__version__} has no BuilderFlag.{name}; use --typing strong")
        config.set_flag(flag)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector then reports per-layer types
    if cfg.optimization_level is not None:
        config.builder_optimization_level = cfg.optimization_level
    optimization_profile = checked(builder.create_optimization_profile(), "create an optimization profile", cfg.onnx)
    try:
        optimization_profile.set_shape(profile.input_name, profile.min, profile.opt, profile.max)
    except RuntimeError as exc:  # the bindings raise when min <= opt <= max does not hold
        raise QYoloError(f"TensorRT refused the optimization profile {profile.as_dict()} for {cfg.onnx}: "
                         f"{exc}") from None
    if config.add_optimization_profile(optimization_profile) < 0:  # -1: TensorRT found the profile invalid
        raise QYoloError(f"TensorRT refused the optimization profile {profile.as_dict()} for {cfg.onnx} (see its "
                         f"messages above); check --batch/--min-batch/--opt-batch against the ONNX input's shape")
    monitor = _build_progress(trt)
    if monitor is not None:
        config.progress_monitor = monitor
    return config, monitor


def _load_timing_cache(config, path: Path | None, onnx: Path) -> None:
    """Reuse tactic timings across builds (same TensorRT + GPU). runs/ is shared between images and machines, so a
    cache another TensorRT or GPU wrote is expected: TensorRT then either cannot read it (create_timing_cache
    returns None) or refuses to use it (set_timing_cache returns False). Either way the build starts a fresh
    cache, which is saved over the old one afterwards."""
    try:
        data = path.read_bytes() if path is not None and path.is_file() else b""
    except OSError as exc:
        get_logger().warning(f"timing cache {path} cannot be read ({exc}); starting a fresh one")
        data = b""
    cache = config.create_timing_cache(data) if data else None
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return
    if data:
        get_logger().warning(f"timing cache {path} was written by another TensorRT version or GPU (or is damaged); "
                             f"starting a fresh one")
    fresh = checked(config.create_timing_cache(b""), "create a timing cache", onnx)
    if not config.set_timing_cache(fresh, ignore_mismatch=False):
        raise QYoloError(f"TensorRT refused its own new timing cache while building {onnx}; rerun with "
                         f"--timing-cache none and report the log")


def _save_timing_cache(config, path: Path | None) -> None:
    cache = config.get_timing_cache() if path is not None else None
    if cache is None:
        return
    serialized = cache.serialize()
    write_bytes_atomic(path, lambda tmp: tmp.write_bytes(bytes(memoryview(serialized))))


def _inspect(trt, logger, serialized, engine_path: Path, conv_nodes: dict[str, bool]) -> tuple[str, dict]:
    runtime = checked(trt.Runtime(logger), "create a runtime", engine_path)
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise QYoloError("TensorRT built an engine it cannot load back; rerun with --verbose and report the log")
    inspector = checked(engine.create_engine_inspector(), "create an engine inspector", engine_path)
    info = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    return info, summarize_layers(parse_layers(info), conv_nodes)


def _input_for_build(cfg: EngineConfig, plan: BuildPlan) -> Path:
    if not plan.convert_to_fp16_onnx:
        return cfg.onnx
    from engine.fp16_onnx import write_fp16_onnx

    fp16_path = cfg.engine_path.with_suffix(".fp16.onnx")
    get_logger().info(f"strongly typed FP16 build: writing an FP16 copy of the graph to {fp16_path}")
    return write_fp16_onnx(cfg.onnx, fp16_path)


def build_engine(cfg: EngineConfig) -> Path:
    """Build `cfg.engine_path` from `cfg.onnx`; write its sidecar and layer report; return the engine path."""
    log = get_logger()
    summary: OnnxSummary = summarize_onnx(cfg.onnx)
    check_for_tensorrt(summary, cfg.precision)
    try:
        profile = profile_shapes(summary.input_name, summary.input_shape, cfg.batches, cfg.imgsz)
    except ValueError as exc:
        raise QYoloError(f"{cfg.onnx}: {exc}") from None
    trt = import_tensorrt()
    gpu = gpu_info(cfg.device)
    precision = effective_precision(cfg.precision, summary.has_qdq)
    try:
        plan = plan_build(trt.__version__, cfg.precision, cfg.typing, summary.has_qdq)
    except ValueError as exc:
        raise QYoloError(str(exc)) from None
    if summary.has_qdq:
        check_int8_support(gpu["name"], tuple(gpu["compute_capability"]))

    require_cuda(cfg.device).cuda.set_device(cfg.device)  # TensorRT builds on the current device of torch's context
    logger = trt.Logger(trt.Logger.VERBOSE if cfg.verbose else trt.Logger.WARNING)
    builder = checked(trt.Builder(logger), "create a builder", cfg.onnx)
    network = checked(builder.create_network(network_flags(trt, plan.strongly_typed)), "create a network", cfg.onnx)
    build_input = _input_for_build(cfg, plan)
    parser = _parse_onnx(trt, network, logger, build_input)
    config, _monitor = _configure(trt, builder, cfg, plan, profile)
    _load_timing_cache(config, cfg.timing_cache, cfg.onnx)

    log.info(f"building {precision.upper()} engine from {cfg.onnx} on {gpu['name']} with TensorRT {trt.__version__} "
             f"({'strongly typed' if plan.strongly_typed else 'flags ' + '+'.join(plan.flags or ('none',))}; "
             f"batch {profile.min[0]}/{profile.opt[0]}/{profile.max[0]}, input {profile.opt[1:]})")
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    build_seconds = time.perf_counter() - started
    del parser
    if serialized is None:
        raise QYoloError(f"TensorRT could not build an engine from {cfg.onnx} (see its messages above); rerun "
                         f"with --verbose for the full log, and check the graph with `python -m export.lint`")
    _save_timing_cache(config, cfg.timing_cache)

    engine_path = cfg.engine_path
    sidecar_path(engine_path).unlink(missing_ok=True)  # never leave an old build's sidecar beside a new engine
    write_bytes_atomic(engine_path, lambda tmp: tmp.write_bytes(bytes(memoryview(serialized))))
    inspector_json, layer_summary = _inspect(trt, logger, serialized, engine_path, summary.conv_nodes)
    write_text_atomic(engine_path.with_name(engine_path.name + ".layers.json"), inspector_json)
    sidecar = make_sidecar(
        engine_path=engine_path, onnx_path=cfg.onnx, onnx_sha256=file_sha256(cfg.onnx),
        tensorrt_version=trt.__version__, gpu=gpu, precision=precision, requested_precision=cfg.precision,
        plan=plan.as_dict(), profile=profile.as_dict(), workspace_bytes=cfg.workspace_bytes,
        timing_cache=str(cfg.timing_cache) if cfg.timing_cache else None, layer_summary=layer_summary,
        build_seconds=build_seconds, onnx_metadata={**summary.metadata, **cfg.extra_metadata},
        onnx_convolutions=summary.conv_nodes,
        engine_bytes=engine_path.stat().st_size, versions=versions("torch", "onnx", "tensorrt"))
    write_sidecar(engine_path, sidecar)
    log.info(f"engine written: {engine_path} ({engine_path.stat().st_size / 1e6:.1f} MB, {build_seconds:.0f} s)")
    log.info(format_precision_report(layer_summary, precision))
    return engine_path
