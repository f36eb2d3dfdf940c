"""`cpu` profile: complete a QDQ graph so that ONNX Runtime runs every conv/SiLU/Add/Concat in uint8 kernels.

Why this exists. The artifact quantizes conv inputs and weights (and MaxPool inputs), which is all TensorRT and
OpenVINO need: they run the conv in int8 and fuse the activation into its epilogue. ONNX Runtime's CPU provider
fuses a QDQ node group into a QLinear* kernel only when the op's inputs come from DequantizeLinear AND its output
goes into a QuantizeLinear. With Q/DQ at conv inputs only, ORT dequantizes and runs float convolutions, slower
than FP32; with every op wrapped (what ORT's own quantize_static produces) it runs QLinearConv/QLinearSigmoid/
QLinearMul/QLinearAdd/QLinearConcat and is faster than FP32 (docs/history.md has the measured figures).

So this pass adds a Q/DQ on the output of every op whose inputs are all dequantized and which feeds another op
ORT can run in uint8 (in YOLOv5: conv outputs before the SiLU, sigmoid outputs, the conv branch of the residual
Adds). These are new quantization points the torch fake-quant model does not have: their ranges are calibrated
here by running the graph on calibration images, with the artifact's activation method where it is asymmetric
(`uh` as published), and Sigmoid outputs get the fixed [0, 1] range. The graph then computes close to, but not
exactly, what the torch fake-quant model computes; the export sidecar lists every added point and the fidelity
report measures the difference. Tensors that feed only float ops (the Detect convs and decode) stay float.
"""
import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import torch
from tqdm import tqdm

from calib.calibrators import make_calibrator
from calib.quant_desc import QuantDesc, scale_and_zero_point
from common.errors import QYoloError
from common.log import get_logger
from export.qdq import DQ_OP, Q_OP, QDQMaker, QParams, constant_values, consumers, producer, qparams, replace_input

# Ops ONNX Runtime's CPU provider runs on uint8 when wrapped in DQ -> op -> Q.
INTEGER_OPS = ("Conv", "Sigmoid", "Mul", "Add", "Concat", "MaxPool", "Resize", "AveragePool", "GlobalAveragePool",
               "LeakyRelu", "Relu", "Clip")
FIXED_RANGES = {"Sigmoid": (0.0, 1.0)}


def _computed(tensor) -> bool:
    return isinstance(tensor, gs.Variable) and constant_values(tensor) is None


def _dequantized_weight(tensor) -> bool:
    node = producer(tensor)
    return node is not None and node.op == DQ_OP and constant_values(node.inputs[0]) is not None


@dataclass
class Site:
    tensor: gs.Variable
    readers: list[gs.Node]
    op: str  # the op producing the tensor
    params: QParams | None = None
    method: str = ""
    bounds: tuple[float, float] | None = None  # SiLU input: beyond these the next quantizer sees no difference


@dataclass
class IntegerOpsReport:
    sites: list[dict] = field(default_factory=list)
    images: int = 0
    float_readers_redirected: int = 0

    def to_dict(self) -> dict:
        return {"added_quantizers": len(self.sites), "calibration_images": self.images,
                "float_readers_redirected": self.float_readers_redirected, "sites": self.sites}


def _quantized_chain(tensor) -> gs.Tensor | None:
    """The dequantized output of the Q/DQ (or Clip -> Q/DQ) already reading `tensor`, if there is one."""
    for reader in consumers(tensor):
        node = reader
        if node.op == "Clip":
            nxt = [c for c in consumers(node.outputs[0]) if c.op == Q_OP]
            if not nxt:
                continue
            node = nxt[0]
        if node.op == Q_OP:
            dqs = [c for c in consumers(node.outputs[0]) if c.op == DQ_OP]
            if dqs:
                return dqs[0].outputs[0]
    return None


def _emulation_clip(node: gs.Node) -> bool:
    """A Clip feeding a Q: the <8-bit emulation clip, part of a quantizer rather than an op of the model."""
    return node.op == "Clip" and any(c.op == Q_OP for c in consumers(node.outputs[0]))


def _candidate(node: gs.Node) -> bool:
    if node.op not in INTEGER_OPS or len(node.outputs) != 1 or _emulation_clip(node):
        return False
    if node.op == "Conv":
        return len(node.inputs) > 1 and _dequantized_weight(node.inputs[1])
    if node.op in ("Mul", "Add"):
        return sum(_computed(t) for t in node.inputs) == 2  # x * 2 in the Detect decode stays float
    return True


def plan_sites(graph: gs.Graph) -> tuple[list[Site], list[tuple[gs.Node, gs.Tensor, gs.Tensor]]]:
    """Tensors to quantize (topological order) with the readers that should read them dequantized, and the
    (reader, raw tensor, dequantized tensor) edges where an integer op must read an existing quantizer's output.
    """
    graph.toposort()
    members = _integer_ops(graph)
    outputs = {t.name for t in graph.outputs}
    sites: list[Site] = []
    redirects = []
    for node in graph.nodes:
        if id(node) not in members:
            continue
        for tensor in _data_inputs(node):
            maker = producer(tensor)
            chain = None if maker is not None and maker.op == DQ_OP else _quantized_chain(tensor)
            if chain is not None:
                redirects.append((node, tensor, chain))
        out = node.outputs[0]
        if out.name in outputs or _quantized_chain(out) is not None:
            continue
        readers = [r for r in consumers(out) if id(r) in members]
        if readers:
            sites.append(Site(out, readers, node.op, bounds=_silu_bounds(out)))
    return sites, redirects


def _data_inputs(node: gs.Node) -> list[gs.Tensor]:
    """The inputs an integer op reads as data: a conv's activation, every computed input of the others."""
    return [node.inputs[0]] if node.op == "Conv" else [t for t in node.inputs if _computed(t)]


def _integer_ops(graph: gs.Graph) -> dict[int, gs.Node]:
    """The greatest set of candidate nodes whose data inputs all come from a DequantizeLinear, from another
    member, or from a tensor that already has a quantizer (by id)."""
    members = {id(n): n for n in graph.nodes if _candidate(n)}

    def fed_integers(tensor: gs.Tensor) -> bool:
        maker = producer(tensor)
        if maker is None and tensor not in graph.inputs:
            return True  # a constant
        if maker is not None and (maker.op == DQ_OP or id(maker) in members):
            return True
        return _quantized_chain(tensor) is not None

    changed = True
    while changed:
        changed = False
        for key, node in list(members.items()):
            if not all(fed_integers(tensor) for tensor in _data_inputs(node)):
                del members[key]
                changed = True
    return members


def _silu(c: float) -> float:
    return c / (1.0 + math.exp(-c)) if c > -700 else 0.0


def _solve(target: float, low: float, high: float, increasing: bool) -> float:
    for _ in range(100):
        mid = 0.5 * (low + high)
        if (_silu(mid) < target) == increasing:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def _silu_bounds(tensor: gs.Tensor) -> tuple[float, float] | None:
    """For a tensor read only by x * Sigmoid(x) whose product has a quantizer: the input interval outside which
    that quantizer cannot tell values apart (its top level saturates; SiLU of very negative x rounds to 0).
    Ranging the new pre-activation quantizer over this interval instead of the observed min/max spends its levels
    where they matter (conv outputs reach -20 and below, where SiLU is within half a step of 0)."""
    readers = consumers(tensor)
    sigmoids = [r for r in readers if r.op == "Sigmoid"]
    muls = [r for r in readers if r.op == "Mul"]
    if len(readers) != 2 or len(sigmoids) != 1 or len(muls) != 1:
        return None
    if not {id(t) for t in muls[0].inputs} == {id(tensor), id(sigmoids[0].outputs[0])}:
        return None
    chain = _quantized_chain(muls[0].outputs[0])
    if chain is None:
        return None
    params = qparams(producer(chain))
    if params is None or params.per_channel:
        return None
    scale = float(params.scale)
    _, high = (float(v) for v in params.float_range())
    upper = _solve(high + scale / 2, 0.0, high + scale + 50.0, increasing=True)
    lower = _solve(-scale / 4, -200.0, -1.2785, increasing=False) if scale / 4 < 0.278 else -1.2785
    return lower, upper


def _collect_ranges(model: onnx.ModelProto, sites: list[Site], batches: Iterable[np.ndarray], method: str,
                    threads: int) -> int:
    import onnxruntime as ort

    needed = [s for s in sites if s.op not in FIXED_RANGES]
    if not needed:
        return 0
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for site in needed:
        if site.tensor.name not in known:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(site.tensor.name, onnx.TensorProto.FLOAT,
                                                                         None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    desc = QuantDesc(num_bits=8, symmetric=False, axis=None)
    calibrators = {s.tensor.name: make_calibrator("minmax" if s.bounds else method, desc, s.tensor.name)
                   for s in needed}
    names = list(calibrators)
    count = 0
    static_batch = session.get_inputs()[0].shape[0]
    step = static_batch if isinstance(static_batch, int) and static_batch > 0 else None
    for batch in tqdm(batches, desc="calibrating integer-op points", unit="batch"):
        batch = np.ascontiguousarray(batch, np.float32)
        chunks = [batch] if step is None else [batch[i:i + step] for i in range(0, len(batch) - step + 1, step)]
        for chunk in chunks:  # a static-batch graph takes its own batch size only
            values = session.run(names, {input_name: chunk})
            for name, value in zip(names, values):
                calibrators[name].collect(torch.from_numpy(value))
            count += len(chunk)
    if count == 0:
        raise QYoloError("no calibration images for the integer-op quantizers; give --calib-data")
    for site in needed:
        found = calibrators[site.tensor.name].compute_amax()
        amax, amin = found.amax, found.amin
        if site.bounds is not None:
            amin = amin.clamp(min=site.bounds[0])
            amax = amax.clamp(max=site.bounds[1])
            method_used = "minmax within the SiLU bounds"
        else:
            method_used = method
        scale, zero = scale_and_zero_point(desc, amax, amin)
        site.params = QParams(scale.numpy().astype(np.float32).reshape(()),
                              zero.numpy().astype(np.uint8).reshape(()), None)
        site.method = method_used
    return count


def _read_dequantized_everywhere(graph: gs.Graph) -> int:
    """Float ops reading a tensor that also has a quantizer read its dequantized value instead.

    ORT fuses an op into a QLinear kernel only when its output goes to Q nodes alone; one float reader (YOLOv5's
    Detect convs reading the P3/P4 outputs that the next conv also quantizes) keeps the producer in float and
    adds layout transposes. The tensor then exists in uint8 only, as in ORT's own quantize_static graphs.
    Only for 8-bit quantizers: on an emulated 4-bit grid, rounding the Detect convs' inputs costs several AP.
    """
    redirected = 0
    for tensor in list(graph.tensors().values()):
        if not isinstance(tensor, gs.Variable):
            continue
        chain = _quantized_chain(tensor)
        if chain is None or any(_emulation_clip(r) for r in consumers(tensor)):
            continue  # below 8 bits the float readers (the Detect convs) keep the unrounded value
        for reader in consumers(tensor):
            if reader.op != Q_OP:
                replace_input(reader, tensor, chain)
                redirected += 1
    return redirected


def complete_integer_ops(graph: gs.Graph, model: onnx.ModelProto, batches: Iterable[np.ndarray],
                         method: str = "uh", threads: int = 2) -> IntegerOpsReport:
    """Add the planned Q/DQ (uint8) with ranges calibrated on `batches` (float32 NCHW in [0, 1]).

    `model` is `graph` exported (the same tensors): it is what runs to collect the ranges.
    """
    report = IntegerOpsReport()
    sites, redirects = plan_sites(graph)
    for reader, raw, dequantized in redirects:
        replace_input(reader, raw, dequantized)
    if not sites:
        get_logger().info("integer ops: nothing to add (no op both reads dequantized inputs and feeds one)")
        return report
    if method not in ("uh", "minmax"):
        method = "uh"  # the NVIDIA-style methods are symmetric only; these points are uint8
    report.images = _collect_ranges(model, sites, batches, method, threads)
    maker = QDQMaker(graph)
    for site in sites:
        if site.op in FIXED_RANGES:
            low, high = FIXED_RANGES[site.op]
            desc = QuantDesc(num_bits=8, symmetric=False, axis=None)
            scale, zero = scale_and_zero_point(desc, torch.tensor(high), torch.tensor(low))
            site.params = QParams(scale.numpy().astype(np.float32).reshape(()),
                                  zero.numpy().astype(np.uint8).reshape(()), None)
            site.method = "fixed"
        dequantized = maker.on_edges(site.tensor, [], site.params, f"{site.tensor.name}_int")
        for reader in site.readers:
            replace_input(reader, site.tensor, dequantized)
        report.sites.append({"tensor": site.tensor.name, "after": site.op, "method": site.method,
                             "scale": float(site.params.scale), "zero_point": int(site.params.zero_point),
                             "readers": [r.name for r in site.readers]})
    report.float_readers_redirected = _read_dequantized_everywhere(graph)
    graph.cleanup().toposort()
    get_logger().info(f"integer ops: {len(sites)} Q/DQ added for ONNX Runtime's uint8 kernels "
                      f"({sum(s.op not in FIXED_RANGES for s in sites)} calibrated on {report.images} images)")
    return report


__all__ = ["INTEGER_OPS", "IntegerOpsReport", "Site", "complete_integer_ops", "plan_sites"]
