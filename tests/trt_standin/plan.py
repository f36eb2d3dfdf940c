"""What the stand-in's builder makes of an ONNX, and how its engines run.

A parsed network keeps the ONNX bytes and what TensorRT would know about them: I/O tensors (names, types, shapes
with -1 for dynamic dimensions), the convolutions (and which read a DequantizeLinear: those run in INT8), whether it
has Q/DQ. A built plan is that, plus the build's settings (typing, flags, the optimization profile), serialized
as a header and the ONNX bytes. Running a plan runs its ONNX in ONNX Runtime on the host memory the execution
context's tensor addresses point at: the numbers are real, and a wrong address, shape or type shows.
The engine-inspector JSON is written in the layout of the TensorRT generation that built the plan (10: a combined
"Format/Datatype" text; 11: separate "DataType" and "Format"), with the Detect head fused into one Myelin layer
that has no ParameterType, as TensorRT's Myelin backend reports it.
"""
import json
import struct
from dataclasses import asdict, dataclass, field

import numpy as np

PLAN_MAGIC = b"QYTRTSTANDIN1"
CACHE_MAGIC = b"QYTRTCACHE1"

# ONNX TensorProto element type -> TensorRT DataType member
ONNX_TO_TRT = {1: "FLOAT", 10: "HALF", 16: "BF16", 3: "INT8", 6: "INT32", 7: "INT64", 9: "BOOL", 2: "UINT8"}
TRT_TO_NUMPY = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "INT64": np.int64,
                "BOOL": np.bool_, "UINT8": np.uint8}


@dataclass
class Tensor:
    name: str
    dtype: str           # TensorRT DataType member name
    shape: list          # -1 for dynamic dimensions
    is_input: bool


@dataclass
class Network:
    tensors: list[Tensor] = field(default_factory=list)
    convs: list[tuple[str, bool]] = field(default_factory=list)   # (ONNX node name, reads a DequantizeLinear)
    head_nodes: list[str] = field(default_factory=list)            # Detect head nodes (one Myelin layer)
    has_qdq: bool = False
    float16_graph: bool = False
    onnx_bytes: bytes = b""

    @property
    def inputs(self) -> list[Tensor]:
        return [t for t in self.tensors if t.is_input]


def parse_onnx(data: bytes) -> tuple[Network | None, list[tuple[str, str, str]]]:
    """(network, []) or (None, [(node name, operator, description)]) as TensorRT's parser would report."""
    import onnx

    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # noqa: BLE001 - any protobuf failure is a parser error
        return None, [("", "", f"Failed to parse ONNX model: {exc}")]
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    errors = [(node.name, node.op_type, f"No importer registered for op: {node.op_type}")
              for node in graph.node if node.domain not in ("", "ai.onnx")]
    if errors:
        return None, errors
    network = Network(onnx_bytes=data)

    def tensor(value_info, is_input):
        elem = value_info.type.tensor_type.elem_type
        shape = [int(d.dim_value) if d.HasField("dim_value") else -1 for d in value_info.type.tensor_type.shape.dim]
        return Tensor(value_info.name, ONNX_TO_TRT.get(elem, "FLOAT"), shape, is_input)

    network.tensors = [tensor(vi, True) for vi in graph.input if vi.name not in initializers]
    network.tensors += [tensor(vo, False) for vo in graph.output]
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            network.has_qdq = True
        if node.op_type == "Conv":
            source = producers.get(node.input[0])
            network.convs.append((node.name, source is not None and source.op_type == "DequantizeLinear"))
    network.head_nodes = _tail_nodes(graph)
    network.float16_graph = any(init.data_type == 10 for init in graph.initializer)
    return network, []


def _tail_nodes(graph) -> list[str]:
    """The nodes no convolution follows: the output convolutions and the decode after them (a detector's head),
    the part TensorRT 10/11 typically hands to Myelin as one fused layer. Nodes are in topological order."""
    nodes = list(graph.node)
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    feeds_conv = [False] * len(nodes)
    for index in reversed(range(len(nodes))):
        feeds_conv[index] = any(nodes[c].op_type == "Conv" or feeds_conv[c]
                                for out in nodes[index].output for c in consumers.get(out, []))
    return [node.name for node, feeds in zip(nodes, feeds_conv) if not feeds]


@dataclass
class Plan:
    """A built engine: the network, the profile (per input: min, opt, max), the build's typing and flags."""
    network: Network
    profile: dict                 # input name -> [min, opt, max]
    strongly_typed: bool
    flags: list[str]
    tensorrt_version: str
    detailed: bool = False        # built with ProfilingVerbosity.DETAILED: the inspector reports layer types

    def serialize(self) -> bytes:
        header = {"profile": self.profile, "strongly_typed": self.strongly_typed, "flags": self.flags,
                  "tensorrt_version": self.tensorrt_version, "detailed": self.detailed,
                  "tensors": [asdict(t) for t in self.network.tensors],
                  "convs": self.network.convs, "head_nodes": self.network.head_nodes,
                  "has_qdq": self.network.has_qdq, "float16_graph": self.network.float16_graph}
        blob = json.dumps(header).encode()
        return PLAN_MAGIC + struct.pack("<Q", len(blob)) + blob + self.network.onnx_bytes

    @classmethod
    def deserialize(cls, data: bytes) -> "Plan | None":
        if not data.startswith(PLAN_MAGIC):
            return None
        start = len(PLAN_MAGIC)
        try:
            (size,) = struct.unpack("<Q", data[start:start + 8])
            header = json.loads(data[start + 8:start + 8 + size])
        except (struct.error, ValueError):
            return None
        onnx_bytes = data[start + 8 + size:]
        network = Network(tensors=[Tensor(**t) for t in header["tensors"]],
                          convs=[tuple(c) for c in header["convs"]], head_nodes=header["head_nodes"],
                          has_qdq=header["has_qdq"], float16_graph=header["float16_graph"], onnx_bytes=onnx_bytes)
        return cls(network=network, profile=header["profile"], strongly_typed=header["strongly_typed"],
                   flags=header["flags"], tensorrt_version=header["tensorrt_version"], detailed=header["detailed"])

    # -- what the inspector says ---------------------------------------------------------------------------------
    def conv_precision(self, quantized: bool) -> str:
        if quantized and (self.strongly_typed or "INT8" in self.flags):
            return "INT8"
        if self.strongly_typed:
            return "FP16" if self.network.float16_graph else "FP32"
        return "FP16" if "FP16" in self.flags else "FP32"

    def layers_json(self, myelin_head: bool = True) -> str:
        major = int(self.tensorrt_version.split(".")[0])
        layers = []
        head = set(self.network.head_nodes) if myelin_head else set()
        for name, quantized in self.network.convs:
            if name in head:
                continue
            precision = self.conv_precision(quantized)
            layers.append({"Name": f"{name}.weight + {name}", "LayerType": "CaskConvolution",
                           "ParameterType": "Convolution",
                           "Inputs": [_tensor_json(f"{name}_in", precision, major)],
                           "Outputs": [_tensor_json(f"{name}_out", precision, major)]})
        if head:
            precision = "FP16" if "FP16" in self.flags or self.network.float16_graph else "FP32"
            names = [n for n in self.network.head_nodes]
            layers.append({"Name": f"{{ForeignNode[{names[0]}...{names[-1]}]}}",
                           "LayerType": "Myelin" if major < 11 else "kgen",
                           "Inputs": [_tensor_json("head_in", precision, major)],
                           "Outputs": [_tensor_json("head_out", "FP32", major)],
                           "Metadata": "\x1e".join(f"[ONNX Layer: {n}]" for n in names)})
        bindings_key = "Bindings" if major < 11 else "I/O Tensors"
        return json.dumps({"Layers": layers, bindings_key: [t.name for t in self.network.tensors]})

    def names_only_json(self) -> str:
        return json.dumps({"Layers": [f"{name}.weight + {name}" for name, _ in self.network.convs],
                           "Bindings": [t.name for t in self.network.tensors]})


_FORMATS = {"INT8": ("Int8", "Thirty-two wide channel vectorized row major Int8 format"),
            "FP16": ("Half", "Channel major FP16 format where channel % 8 == 0"),
            "FP32": ("Float", "Row major linear FP32 format")}


def _tensor_json(name: str, precision: str, major: int) -> dict:
    datatype, text = _FORMATS[precision]
    if major < 11:
        return {"Name": name, "Location": "Device", "Format/Datatype": text}
    return {"Name": name, "Location": "Device", "DataType": datatype, "Format": text.split(" format")[0]}


def timing_cache_bytes(tensorrt_version: str, gpu: str) -> bytes:
    return CACHE_MAGIC + json.dumps({"tensorrt": tensorrt_version, "gpu": gpu}).encode()


def read_timing_cache(data: bytes) -> dict | None:
    if not data.startswith(CACHE_MAGIC):
        return None
    try:
        return json.loads(data[len(CACHE_MAGIC):])
    except ValueError:
        return None
