"""TensorRT's Q/DQ placement rules, as a pass on any QDQ graph (graphsurgeon), not on YOLOv5 names.

The graph's activation quantizers are found as (optional emulation Clip) -> QuantizeLinear -> DequantizeLinear
chains on float tensors. Tensors are joined into scale groups (union-find):
- every input of a Concat whose output is quantized joins the Concat output's group, and the Concat reads each
  input through a Q/DQ of that group (TensorRT then concatenates in int8);
- the input and output of a MaxPool / nearest Resize / Upsample join one group when both are quantized (they
  commute with quantization, so the quantizer after them keeps the scale of the one before), and the op reads its
  input through that group's Q/DQ: the runtime then resizes / pools int8 values instead of dequantizing first
  (OpenVINO otherwise runs the upsample of YOLO's neck in float);
- several quantizers on one tensor are one group and become one Q/DQ (ONNX Runtime fuses an op only when its
  output has a single Q; TensorRT fuses the Q into the producer only once).
A group's range is the union of its members' ranges (no member clips more than it did), on the members' grid
(bits, symmetric or not), with the scale and zero point calib computes for that range.
- Residual Add: an input of an Add (both inputs computed, output quantized) that already has an 8-bit quantizer
  is read through it, so TensorRT can fuse the Add into the conv producing the other input. Not for emulated
  grids below 8 bits: rounding the shortcut onto a 4-bit grid costs AP that it does not cost at 8 bits (docs/history.md
  has the figures).
Ops in the float part (the Detect decode: its Concat/Add outputs have no quantizer) are left alone.

Numerics: the Concat-input Q/DQ are exact (Q/DQ commutes with Concat and is idempotent on its own grid); a
group whose members had different ranges computes with the union range; the residual-Add input Q/DQ rounds the
shortcut onto its quantizer's grid where the float model adds it unrounded. `placement=False` skips all of this.
"""
from dataclasses import dataclass, field

import numpy as np
import onnx_graphsurgeon as gs
import torch

from calib.quant_desc import QuantDesc, scale_and_zero_point
from common.errors import QYoloError
from common.log import get_logger
from export.qdq import DQ_OP, Q_OP, QDQMaker, QParams, constant_values, consumers, producer, qparams, replace_input

COMMUTING_OPS = ("MaxPool", "Resize", "Upsample")


@dataclass
class Quantizer:
    """An activation quantizer found in the graph: [clip ->] q -> dqs, quantizing the float tensor `tensor`."""

    q: gs.Node
    dqs: list[gs.Node]
    clip: gs.Node | None
    tensor: gs.Tensor
    params: QParams
    bits: int

    @property
    def symmetric(self) -> bool:
        return self.params.dtype == np.int8 and not np.any(self.params.zero_point)

    @property
    def output(self) -> gs.Tensor:
        return self.dqs[0].outputs[0]

    def level_range(self) -> tuple[int, int]:
        """The integer levels this quantizer can produce: the b-bit grid inside the 8-bit container."""
        if self.symmetric:
            return -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1
        return 0, 2 ** self.bits - 1

    def float_range(self) -> tuple[float, float]:
        low, high = self.level_range()
        zp, scale = float(self.params.zero_point.reshape(())), float(self.params.scale.reshape(()))
        return (low - zp) * scale, (high - zp) * scale


def _emulated_bits(clip: gs.Node, params: QParams) -> int | None:
    """Bits of the grid a Clip before a Q emulates (its bounds are the b-bit grid's end levels), else None."""
    if len(clip.inputs) < 3:
        return None
    low, high = constant_values(clip.inputs[1]), constant_values(clip.inputs[2])
    if low is None or high is None or low.size != 1 or high.size != 1:
        return None
    scale, zp = float(params.scale.reshape(())), float(params.zero_point.reshape(()))
    q_low, q_high = round(float(low.reshape(())) / scale + zp), round(float(high.reshape(())) / scale + zp)
    symmetric = params.dtype == np.int8 and zp == 0
    for bits in range(2, 8):
        expected = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2 ** bits - 1)
        if (q_low, q_high) == expected:
            return bits
    return None


def find_quantizers(graph: gs.Graph) -> list[Quantizer]:
    """Per-tensor activation quantizers (Q with constant parameters on a computed float tensor)."""
    found = []
    for node in graph.nodes:
        if node.op != Q_OP or constant_values(node.inputs[0]) is not None:
            continue
        params = qparams(node)
        if params is None or params.per_channel or params.dtype not in (np.int8, np.uint8):
            continue
        dqs = [c for c in consumers(node.outputs[0]) if c.op == DQ_OP]
        if not dqs or len(dqs) != len(consumers(node.outputs[0])):
            continue
        tensor, clip, bits = node.inputs[0], None, 8
        maker = producer(tensor)
        if maker is not None and maker.op == "Clip" and len(consumers(tensor)) == 1:
            emulated = _emulated_bits(maker, params)
            if emulated is not None:
                clip, bits, tensor = maker, emulated, maker.inputs[0]
        found.append(Quantizer(node, dqs, clip, tensor, params, bits))
    return found


class _UnionFind:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[rb] = ra
        return True


@dataclass
class PlacementReport:
    groups: list[dict] = field(default_factory=list)
    concat_edges: int = 0
    add_edges: int = 0
    add_edges_skipped: int = 0
    merged_quantizers: int = 0
    commuting_edges: int = 0

    def to_dict(self) -> dict:
        return {"groups": self.groups, "concat_input_qdq": self.concat_edges, "residual_add_input_qdq": self.add_edges,
                "residual_add_skipped_below_8_bits": self.add_edges_skipped,
                "duplicate_quantizers_merged": self.merged_quantizers,
                "maxpool_resize_input_qdq": self.commuting_edges}


def _quantized_source(tensor) -> gs.Tensor | None:
    """For the output of a DQ fed by a Q (through an optional emulation Clip): the float tensor quantized."""
    dq = producer(tensor)
    if dq is None or dq.op != DQ_OP:
        return None
    q = producer(dq.inputs[0])
    if q is None or q.op != Q_OP:
        return None
    source = q.inputs[0]
    clip = producer(source)
    params = qparams(q)
    if clip is not None and clip.op == "Clip" and params is not None and _emulated_bits(clip, params) is not None:
        source = clip.inputs[0]
    return source


def _computed(tensor) -> bool:
    return isinstance(tensor, gs.Variable) and constant_values(tensor) is None


def _is_commuting(node: gs.Node) -> bool:
    if node.op not in COMMUTING_OPS:
        return False
    mode = node.attrs.get("mode", "nearest")
    return (mode.decode() if isinstance(mode, bytes) else mode) == "nearest"


def _group_params(members: list[Quantizer], name: str) -> tuple[QParams, int]:
    symmetric = {m.symmetric for m in members}
    if len(symmetric) > 1:
        raise QYoloError(f"tensors around {name} are quantized both symmetrically and asymmetrically; "
                         f"one Concat/MaxPool scale group must use one grid (calibrate with one --scheme)")
    bits = max(m.bits for m in members)
    if len({m.bits for m in members}) > 1:
        get_logger().warning(f"scale group at {name} mixes {sorted({m.bits for m in members})}-bit quantizers; "
                             f"using {bits} bits for all")
    lows, highs = zip(*(m.float_range() for m in members))
    desc = QuantDesc(num_bits=bits, symmetric=symmetric.pop(), axis=None)
    if desc.symmetric:
        amax = max(max(abs(v) for v in lows) * (2 ** (bits - 1) - 1) / 2 ** (bits - 1), max(highs))
        scale, zero = scale_and_zero_point(desc, torch.tensor(amax, dtype=torch.float64))
        dtype = np.int8
    else:
        scale, zero = scale_and_zero_point(desc, torch.tensor(max(highs), dtype=torch.float64),
                                           torch.tensor(min(lows), dtype=torch.float64))
        dtype = np.uint8
    params = QParams(np.asarray(scale.numpy(), np.float32).reshape(()),
                     np.asarray(zero.numpy()).astype(dtype).reshape(()), None)
    return params, bits


def _set_params(quantizer: Quantizer, params: QParams, bits: int, maker: QDQMaker, name: str) -> None:
    scale = maker.constant(f"{name}_scale", params.scale)
    zero = maker.constant(f"{name}_zero_point", params.zero_point)
    for node in [quantizer.q, *quantizer.dqs]:
        node.inputs[1] = scale
        node.inputs[2] = zero
    if quantizer.clip is not None:
        probe = Quantizer(quantizer.q, quantizer.dqs, quantizer.clip, quantizer.tensor, params, bits)
        low, high = probe.float_range()
        quantizer.clip.inputs[1] = maker.constant(f"{name}_clip_min", np.array(low, np.float32))
        quantizer.clip.inputs[2] = maker.constant(f"{name}_clip_max", np.array(high, np.float32))
    quantizer.params, quantizer.bits = params, bits


def _new_chain(maker: QDQMaker, tensor: gs.Tensor, params: QParams, bits: int, name: str) -> gs.Tensor:
    """[Clip ->] Q -> DQ on `tensor` (nothing rewired); returns the dequantized tensor."""
    source = tensor
    if bits < 8:
        probe = Quantizer(None, [], None, tensor, params, bits)
        low, high = probe.float_range()
        clipped = gs.Variable(maker.unique(f"{name}_clipped"), dtype=np.float32, shape=tensor.shape)
        maker.graph.nodes.append(gs.Node("Clip", maker.unique(f"{name}/Clip"), inputs=[
            tensor, maker.constant(f"{name}_clip_min", np.array(low, np.float32)),
            maker.constant(f"{name}_clip_max", np.array(high, np.float32))], outputs=[clipped]))
        source = clipped
    _, _, dequantized = maker.pair(source, params, name)
    return dequantized


def _chain_bits(by_tensor: dict, groups: "_UnionFind", group_params: dict, name: str) -> int:
    if name in by_tensor:
        return by_tensor[name][0].bits
    params = group_params.get(groups.find(name))
    return params[1] if params else 8


def apply_placement(graph: gs.Graph, residual_add: bool = True) -> PlacementReport:
    """Apply the placement rules in place; returns what was done (for the sidecar).

    residual_add=False leaves the residual-Add rule out (the one rule that rounds a value the float model adds
    unrounded).
    """
    placement = _Placement(graph)
    placement.join_scale_groups()
    concat_edges = placement.concat_edges()  # read before any rewiring
    placement.share_group_params()
    placement.merge_quantizers_per_tensor()
    placement.read_concat_inputs_through_group(concat_edges)
    placement.read_commuting_inputs_through_group()
    if residual_add:
        placement.read_residual_adds_through_quantizers()
    graph.cleanup().toposort()
    return placement.report


class _Placement:
    """The state the placement steps share: the graph's quantizers by tensor, the scale groups, their parameters,
    and the one Q/DQ chain each quantized tensor is read through."""

    def __init__(self, graph: gs.Graph):
        self.graph, self.report, self.maker = graph, PlacementReport(), QDQMaker(graph)
        self.by_tensor: dict[str, list[Quantizer]] = {}
        for quantizer in find_quantizers(graph):
            self.by_tensor.setdefault(quantizer.tensor.name, []).append(quantizer)
        self.quantized = set(self.by_tensor)  # tensors with a quantizer, or that must share one (Concat inputs)
        self.groups = _UnionFind()
        self.group_params: dict[str, tuple[QParams, int]] = {}
        self.chain: dict[str, gs.Tensor] = {}  # tensor name -> the dequantized tensor its readers read

    def join_scale_groups(self) -> None:
        """Concat inputs join the Concat output's group; a MaxPool/Resize joins its input's group. A Concat join
        makes more tensors quantized, which can enable MaxPool/Resize joins: repeat until nothing changes."""
        changed = True
        while changed:
            changed = False
            for node in self.graph.nodes:
                if node.outputs and node.outputs[0].name in self.quantized:
                    changed |= self._join(node)

    def _join(self, node: gs.Node) -> bool:
        changed = False
        if node.op == "Concat":
            for tensor in filter(_computed, node.inputs):
                source = _quantized_source(tensor) or tensor
                changed |= self.groups.union(node.outputs[0].name, source.name)
                if source.name not in self.quantized:
                    self.quantized.add(source.name)
                    changed = True
        elif _is_commuting(node):
            source = _quantized_source(node.inputs[0]) or node.inputs[0]
            if source.name in self.quantized:
                changed |= self.groups.union(node.outputs[0].name, source.name)
        return changed

    def concat_edges(self) -> list[tuple[gs.Tensor, gs.Node]]:
        """(input, Concat) of every quantized Concat input read in float."""
        return [(tensor, node) for node in self.graph.nodes
                if node.op == "Concat" and node.outputs[0].name in self.quantized
                for tensor in node.inputs if _computed(tensor) and _quantized_source(tensor) is None]

    def share_group_params(self) -> None:
        """One parameter set per group (the union of its members' ranges), written into every member quantizer."""
        members: dict[str, list[Quantizer]] = {}
        for name, items in self.by_tensor.items():
            members.setdefault(self.groups.find(name), []).extend(items)
        for root, items in members.items():
            params, bits = _group_params(items, root)
            self.group_params[root] = (params, bits)
            tensors = sorted({m.tensor.name for m in items} | {k for k in self.quantized
                                                               if self.groups.find(k) == root})
            if len(tensors) > 1 or len(items) > 1:
                self.report.groups.append({
                    "tensors": tensors, "quantizers": [m.q.name for m in items],
                    "scale": float(params.scale.reshape(())), "zero_point": int(params.zero_point.reshape(())),
                    "bits": bits, "member_scales_before": sorted({float(m.params.scale.reshape(())) for m in items})})
            for quantizer in items:
                if not quantizer.params.same_as(params) or quantizer.bits != bits:
                    _set_params(quantizer, params, bits, self.maker, f"group_{len(self.group_params)}")

    def merge_quantizers_per_tensor(self) -> None:
        """One chain per tensor: the first quantizer stays; the readers of the others (and of its extra DQs) read
        its output."""
        for name, items in self.by_tensor.items():
            keep = items[0]
            self.chain[name] = keep.output
            extra_dqs = keep.dqs[1:] + [dq for other in items[1:] for dq in other.dqs]
            for dq in extra_dqs:
                for reader in consumers(dq.outputs[0]):
                    replace_input(reader, dq.outputs[0], keep.output)
            self.report.merged_quantizers += len(items) - 1

    def _read_through_quantizer(self, tensor: gs.Tensor, reader: gs.Node) -> None:
        """Make `reader` read `tensor` through its chain, adding a Q/DQ of its group where it has none."""
        if tensor.name not in self.chain:
            root = self.groups.find(tensor.name)
            if root not in self.group_params:
                return
            params, bits = self.group_params[root]
            self.chain[tensor.name] = _new_chain(self.maker, tensor, params, bits, f"{tensor.name}_placement")
        replace_input(reader, tensor, self.chain[tensor.name])

    def read_concat_inputs_through_group(self, edges: list[tuple[gs.Tensor, gs.Node]]) -> None:
        for tensor, concat in edges:
            self._read_through_quantizer(tensor, concat)
            self.report.concat_edges += 1

    def read_commuting_inputs_through_group(self) -> None:
        """Exact: a nearest resize / max pool of values on one grid, re-quantized on that grid, is the same values."""
        for node in list(self.graph.nodes):
            source = node.inputs[0] if node.inputs else None
            if (_is_commuting(node) and _computed(source) and _quantized_source(source) is None
                    and node.outputs[0].name in self.quantized and source.name in self.quantized
                    and self.groups.find(source.name) == self.groups.find(node.outputs[0].name)):
                self._read_through_quantizer(source, node)
                self.report.commuting_edges += 1

    def read_residual_adds_through_quantizers(self) -> None:
        """An Add of two computed tensors whose output is quantized reads each input that has an 8-bit chain
        through it (TensorRT then fuses the Add into the conv producing the other input)."""
        for node in list(self.graph.nodes):
            if node.op != "Add" or len(node.inputs) != 2 or not all(_computed(t) for t in node.inputs):
                continue
            if node.outputs[0].name not in self.quantized and not any(
                    c.op == Q_OP or c.op == "Clip" for c in consumers(node.outputs[0])):
                continue
            for tensor in [t for t in node.inputs if t.name in self.chain]:
                if _chain_bits(self.by_tensor, self.groups, self.group_params, tensor.name) < 8:
                    self.report.add_edges_skipped += 1  # rounding the shortcut onto a 4-bit grid costs accuracy
                    continue
                self._read_through_quantizer(tensor, node)
                self.report.add_edges += 1
