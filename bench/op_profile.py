"""Per-operator CPU profile: where an ONNX graph's time goes on ONNX Runtime and OpenVINO, grouped by op kind.

    python -m bench profile --models fp32.onnx uh-asym-w8a8-cpu.onnx --backends ort openvino
    python -m bench cpu --arch yolov5s --anchors --imgsz 640 --op-profile runs/bench/op-profile.json  # + anchors

ONNX Runtime: its profiler (per-kernel times of the optimized graph). OpenVINO: the performance counters of the
compiled graph (per fused runtime node; SiLU, Add or a re-quantization fused into a convolution is counted as
convolution time, as it is executed). Both are read from the runtime's final graph, so the kinds describe what
ran: an int8 convolution (QLinearConv, or an OpenVINO conv whose kernel runs on I8/U8 data), a float one (split
into the stem conv on the image, the Detect output convs and the others), SiLU, residual Add, Concat, Resize,
MaxPool, Q/DQ (re)quantization, layout changes (reorders/transposes) and the Detect decode (every node after the
Detect convs). Times are per inference, averaged over the profiled runs after warm-up.
Writes a terminal table (kinds x graphs, ms and share) and JSON (per kind and the heaviest nodes per graph).
"""
import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS = ("conv int8", "conv float: stem", "conv float: Detect", "conv float: other", "SiLU / activation",
         "residual Add", "Concat", "Resize", "MaxPool", "Q/DQ (re)quantization", "layout (reorder/transpose)",
         "Detect decode", "other")
CONV_TYPES = {"Conv", "FusedConv", "QLinearConv", "NhwcFusedConv", "NchwcConv", "ConvInteger", "Convolution",
              "GroupConvolution"}
QDQ_TYPES = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "FakeQuantize", "Convert"}
ACTIVATIONS = {"Sigmoid", "QLinearSigmoid", "Mul", "QLinearMul", "Swish", "HardSwish", "Relu", "LeakyRelu",
               "QuickGelu", "Clip"}
LAYOUT = {"Reorder", "ReorderInput", "ReorderOutput", "Transpose", "QLinearTranspose", "Reshape"}


@dataclass
class NodeTime:
    name: str
    op: str
    exec_type: str
    ms: float
    kind: str = "other"


@dataclass
class Profile:
    model: str
    backend: str
    runs: int
    total_ms: float  # mean wall time of one profiled inference
    nodes: list[NodeTime] = field(default_factory=list)
    precision: str = ""

    def by_kind(self) -> dict[str, float]:
        sums = {kind: 0.0 for kind in KINDS}
        for node in self.nodes:
            sums[node.kind] += node.ms
        return sums

    def conv_ms(self) -> float:
        return sum(ms for kind, ms in self.by_kind().items() if kind.startswith("conv"))

    def to_dict(self, top: int = 15, baseline: "Profile | None" = None) -> dict:
        kinds = self.by_kind()
        node_sum = sum(kinds.values())
        ratios = {"conv_speedup_vs_fp32": round(baseline.conv_ms() / self.conv_ms(), 3) if self.conv_ms() else None,
                  "speedup_vs_fp32": round(baseline.total_ms / self.total_ms, 3)} if baseline else {}
        return {"model": self.model, "backend": self.backend, "precision": self.precision, "runs": self.runs,
                "total_ms": round(self.total_ms, 3), "nodes_ms": round(node_sum, 3),
                "conv_ms": round(self.conv_ms(), 3),
                **ratios,
                "kinds": {k: {"ms": round(v, 3), "share": round(v / node_sum, 4) if node_sum else 0.0}
                          for k, v in kinds.items()},
                "top_nodes": [{"name": n.name, "op": n.op, "exec_type": n.exec_type, "kind": n.kind,
                               "ms": round(n.ms, 3)} for n in sorted(self.nodes, key=lambda n: -n.ms)[:top]]}


def _graph_roles(nodes: list[tuple[str, str, list[str], list[str]]], outputs: list[str],
                 graph_input: str | None) -> tuple[set[str], set[str], str | None]:
    """(decode node names, Detect conv names, stem conv name) of a final graph given as (name, op, inputs,
    outputs): the decode is what lies between the graph outputs and the last convolutions."""
    producer = {out: (name, op, ins) for name, op, ins, outs in nodes for out in outs}
    decode, detect, stack, seen = set(), set(), list(outputs), set()
    while stack:
        found = producer.get(stack.pop())
        if found is None or found[0] in seen:
            continue
        name, op, ins = found
        seen.add(name)
        if op in CONV_TYPES:
            detect.add(name)
        else:
            decode.add(name)
            stack += ins
    stem = next((name for name, op, _, _ in nodes if op in CONV_TYPES), None)
    return decode, detect, stem


# Op types whose kind their type alone says (a later group wins where one type is in two).
OP_KINDS = {**{op: "layout (reorder/transpose)" for op in LAYOUT}, "MaxPool": "MaxPool", "Pooling": "MaxPool",
            **{op: "Resize" for op in ("Resize", "Upsample", "Interpolate")},
            **{op: "Concat" for op in ("Concat", "QLinearConcat", "Concatenation")},
            "Add": "residual Add", "QLinearAdd": "residual Add",
            **{op: "SiLU / activation" for op in ACTIVATIONS}, **{op: "Q/DQ (re)quantization" for op in QDQ_TYPES}}


def classify(node: NodeTime, decode: set[str], detect: set[str], stem: str | None) -> str:
    if node.name in decode:
        return "Detect decode"
    if node.op in CONV_TYPES:
        return _conv_kind(node, detect, stem)
    if node.op in ("Eltwise", "Subgraph"):
        return _fused_elementwise_kind(node.name)
    return OP_KINDS.get(node.op, "other")


def _conv_kind(node: NodeTime, detect: set[str], stem: str | None) -> str:
    exec_type = node.exec_type.upper()
    if node.op in ("QLinearConv", "ConvInteger") or "I8" in exec_type or "U8" in exec_type:
        return "conv int8"
    if node.name == stem:
        return "conv float: stem"
    return "conv float: Detect" if node.name in detect else "conv float: other"


def _fused_elementwise_kind(name: str) -> str:
    """OpenVINO's fused element-wise nodes: what they do shows in their name."""
    if any(word in name for word in ("Sigmoid", "/act/", "Swish", "Mul")):
        return "SiLU / activation"
    if "Quantize" in name:
        return "Q/DQ (re)quantization"
    return "residual Add" if "Add" in name else "SiLU / activation"


def _random_input(shape: list, dtype=np.float32) -> np.ndarray:
    dims = [d if isinstance(d, int) and d > 0 else 1 for d in shape]
    return np.random.default_rng(0).random(dims, dtype=np.float32).astype(dtype)


def profile_ort(path: Path, threads: int = 2, warmup: int = 5, runs: int = 20) -> Profile:
    import json
    import tempfile
    import time

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: _random_input(session.get_inputs()[0].shape)}
        walls = []
        for i in range(warmup + runs):
            started = time.perf_counter()
            session.run(None, feed)
            if i >= warmup:
                walls.append(time.perf_counter() - started)
        events = json.loads(Path(session.end_profiling()).read_text())
        final = onnx.load(options.optimized_model_filepath, load_external_data=False)
    graph = [(n.name, n.op_type, list(n.input), list(n.output)) for n in final.graph.node]
    roles = _graph_roles(graph, [o.name for o in final.graph.output], final.graph.input[0].name)
    ops = {n.name: n.op_type for n in final.graph.node}
    run_starts = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    first_timed = run_starts[warmup] if len(run_starts) > warmup else 0
    totals: dict[str, float] = {}
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time") or event["ts"] < first_timed:
            continue
        name = event["name"].removesuffix("_kernel_time")
        totals[name] = totals.get(name, 0.0) + event["dur"] / 1000.0
    profile = Profile(str(path), "ort", runs, float(np.mean(walls)) * 1000.0)
    for name, ms in totals.items():
        op = ops.get(name) or next((e["args"].get("op_name", "?") for e in events
                                    if e.get("name") == f"{name}_kernel_time"), "?")
        node = NodeTime(name, op, "", ms / runs)
        node.kind = classify(node, *roles)
        profile.nodes.append(node)
    return profile


def profile_openvino(path: Path, threads: int = 2, warmup: int = 5, runs: int = 20) -> Profile:
    import time

    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    shape = [d if d > 0 else 1 for d in model.inputs[0].get_partial_shape().get_min_shape()]
    if model.inputs[0].get_partial_shape().is_dynamic:
        model.reshape({model.inputs[0].any_name: shape})
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                                 "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32",
                                                 "PERF_COUNT": True})
    request = compiled.create_infer_request()
    feed = {0: _random_input(shape)}
    for _ in range(warmup):
        request.infer(feed)
    totals: dict[str, list] = {}
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        request.infer(feed)
        walls.append(time.perf_counter() - started)
        for info in request.get_profiling_info():
            entry = totals.setdefault(info.node_name, [info.node_type, info.exec_type, 0.0])
            entry[2] += info.real_time.total_seconds() * 1000.0
    runtime = compiled.get_runtime_model()
    graph, names = [], {}
    for op in runtime.get_ordered_ops():
        name = op.get_friendly_name()
        layer = op.get_rt_info()["layerType"].astype(str) if "layerType" in op.get_rt_info() else op.get_type_name()
        names[name] = layer
        graph.append((name, layer, [f"{i.get_source_output().get_node().get_friendly_name()}:"
                                    f"{i.get_source_output().get_index()}" for i in op.inputs()],
                      [f"{name}:{o.get_index()}" for o in op.outputs()]))
    outputs = [f"{r.input_value(0).get_node().get_friendly_name()}:{r.input_value(0).get_index()}"
               for r in runtime.get_results()]
    roles = _graph_roles(graph, outputs, None)
    profile = Profile(str(path), "openvino", runs, float(np.mean(walls)) * 1000.0)
    for name, (op, exec_type, ms) in totals.items():
        if op in ("Input", "Parameter", "Output", "Result", "Constant") or ms <= 0:
            continue
        node = NodeTime(name, op, exec_type, ms / runs)
        node.kind = classify(node, *roles)
        profile.nodes.append(node)
    return profile


def profile_model(path: str | Path, backend: str, threads: int = 2, warmup: int = 5, runs: int = 20) -> Profile:
    from common.errors import QYoloError
    from eval.backends.ort_backend import model_info

    if backend not in ("ort", "openvino"):
        raise QYoloError(f"op_profile profiles ort and openvino; got backend {backend!r}")
    precision = model_info(Path(path))["precision"]
    profile = (profile_ort if backend == "ort" else profile_openvino)(Path(path), threads, warmup, runs)
    profile.precision = precision
    return profile


def fp32_baseline(profile: Profile, profiles: list[Profile]) -> Profile | None:
    """The FP32 graph's profile on the same backend, if one was profiled."""
    return next((p for p in profiles if p.backend == profile.backend and p.precision == "FP32"), None)


def table(profiles: list[Profile]) -> str:
    """Kinds as rows, one column per profiled (graph, backend): ms per inference and share of the node time."""
    width = 24
    lines = [f"{'':28s} " + " ".join(f"{p.backend:>{width}s}" for p in profiles),
             f"{'op kind':28s} " + " ".join(f"{Path(p.model).stem[-width:]:>{width}s}" for p in profiles)]
    lines.append("-" * len(lines[0]))
    sums = [p.by_kind() for p in profiles]
    totals = [sum(s.values()) for s in sums]
    for kind in KINDS:
        if not any(s[kind] for s in sums):
            continue
        cells = [f"{s[kind]:8.2f} ms {100 * s[kind] / t if t else 0:5.1f} %" for s, t in zip(sums, totals)]
        lines.append(f"{kind:28s} " + " ".join(f"{c:>{width}s}" for c in cells))
    lines.append("-" * len(lines[0]))
    lines.append(f"{'sum of nodes':28s} " + " ".join(f"{t:>{width - 3}.2f} ms" for t in totals))
    lines.append(f"{'wall time per inference':28s} " + " ".join(f"{p.total_ms:>{width - 3}.2f} ms" for p in profiles))
    ratios = [p.to_dict(0, fp32_baseline(p, profiles)) for p in profiles]
    for key, label in (("conv_speedup_vs_fp32", "convolutions x FP32"), ("speedup_vs_fp32", "wall time x FP32")):
        lines.append(f"{label:28s} " + " ".join(f"{r[key]:>{width - 1}.2f}x" if r.get(key) else f"{'-':>{width}s}"
                                                 for r in ratios))
    return "\n".join(lines)


def run_profiles(models, backends=("ort", "openvino"), threads: int = 2, warmup: int = 5, runs: int = 20,
                 out=None, progress: bool = True) -> list[Profile]:
    """Profile every (model, backend) pair; print the kinds table; write JSON to `out` when given."""
    from tqdm import tqdm

    from bench.latency import machine_load
    from common.atomic import write_json_atomic
    from common.provenance import cpu_name

    pairs = [(Path(m), b) for m in models for b in backends]
    load = machine_load()
    profiles = [profile_model(m, b, threads, warmup, runs)
                for m, b in tqdm(pairs, desc="profiling", unit="graph", disable=not progress)]
    print(table(profiles))
    if out is not None:
        write_json_atomic(out, {"meta": {"cpu": cpu_name(), "threads": threads, "warmup": warmup, "runs": runs,
                                         "load_before": load, "load_after": machine_load()},
                                "kinds": list(KINDS),
                                "profiles": [p.to_dict(baseline=fp32_baseline(p, profiles)) for p in profiles]})
    return profiles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from common.cli import non_negative_int, positive_int, thread_count

    parser.add_argument("--models", nargs="+", type=Path, required=True, help="ONNX files to profile")
    parser.add_argument("--backends", nargs="+", default=["ort", "openvino"], choices=["ort", "openvino"])
    parser.add_argument("--threads", type=thread_count, default=2)
    parser.add_argument("--warmup", type=non_negative_int, default=5)
    parser.add_argument("--runs", type=positive_int, default=20, help="profiled inferences per graph and backend")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/op-profile.json"))


def run(args: argparse.Namespace) -> int:
    from common.atomic import check_output_file

    check_output_file(args.out)
    run_profiles(args.models, args.backends, args.threads, args.warmup, args.runs, args.out)
    return 0
