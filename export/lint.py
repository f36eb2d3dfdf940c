"""`python -m export.lint model.onnx`: check a QDQ ONNX against TensorRT's explicit-quantization rules.

Works on any ONNX (not only this project's). Every finding names the node. Errors are what TensorRT rejects or
silently runs differently from the graph; warnings are the placement advice export.placement applies (the engine
builds, but slower). Exit status 1 when there is any error (or any warning with --strict), 0 otherwise, 2 for an
unreadable file.

Errors
  zero-point      a Q/DQ zero point is not 0 (TensorRT quantization is symmetric)
  type            a Q/DQ quantizes to something other than int8 (uint8 is the CPU profile's type)
  per-channel-activation   a per-channel scale on a computed tensor (TensorRT: per-tensor activations only)
  weight-axis     a per-channel weight quantizer of a Conv (ConvTranspose) not on axis 0 (1)
  scale           a scale or zero point that is not a constant, or a scale that is not positive and finite
  opset           per-channel Q/DQ in an opset older than 13
  pair            a Q whose output feeds something other than a DQ; a DQ of a computed tensor not made by a Q;
                  a Q -> DQ pair whose scales/zero points differ
  concat-scale    the quantized inputs of a Concat (and the Q after it) do not share one scale
Warnings
  conv-output     a Q directly on a Conv output (TensorRT fuses better with Q/DQ on conv inputs)
  commute-scale   the Q after a MaxPool/Resize has another scale than the one before it
  residual-add    an Add input is read unquantized although the same tensor is quantized elsewhere
"""
import argparse
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from common.cli import run_cli
from common.onnx_file import load_onnx, opset_version
from export.qdq import DQ_OP, Q_OP, constant_values, consumers, producer, qparams

WEIGHT_AXIS = {"Conv": 0, "ConvTranspose": 1}


@dataclass
class Finding:
    severity: str  # "error" | "warning"
    rule: str
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper():7s} [{self.rule}] {self.node}: {self.message}"


@dataclass
class LintReport:
    path: str
    findings: list[Finding] = field(default_factory=list)
    n_quantize: int = 0
    n_dequantize: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def error(self, rule: str, node: gs.Node, message: str) -> None:
        self.findings.append(Finding("error", rule, _name(node), message))

    def warn(self, rule: str, node: gs.Node, message: str) -> None:
        self.findings.append(Finding("warning", rule, _name(node), message))

    def to_dict(self) -> dict:
        return {"path": self.path, "errors": len(self.errors), "warnings": len(self.warnings),
                "quantize_nodes": self.n_quantize, "dequantize_nodes": self.n_dequantize,
                "findings": [asdict(f) for f in self.findings]}


def _name(node: gs.Node) -> str:
    return node.name or f"<unnamed {node.op} -> {node.outputs[0].name if node.outputs else '?'}>"


def _scalar(params) -> float | None:
    return float(params.scale.reshape(())) if params is not None and params.scale.size == 1 else None


def _check_qdq_node(node: gs.Node, opset: int, report: LintReport) -> None:
    params = qparams(node)
    if params is None:
        report.error("scale", node, "scale or zero point is computed, not a constant initializer; TensorRT needs "
                                    "constant Q/DQ parameters")
        return
    if not np.all(np.isfinite(params.scale)) or np.any(params.scale <= 0):
        report.error("scale", node, f"scale must be positive and finite, got min {float(params.scale.min()):g}")
    if params.dtype != np.int8:
        hint = " (uint8 is the `cpu` profile: export with --profile trt)" if params.dtype == np.uint8 else ""
        report.error("type", node, f"quantizes to {params.dtype}; TensorRT explicit quantization uses int8{hint}")
    if np.any(params.zero_point != 0):
        values = np.unique(params.zero_point)
        report.error("zero-point", node, f"zero point {values[:4].tolist()}{'...' if values.size > 4 else ''} is "
                                         f"not 0; TensorRT runs symmetric quantization only")
    if params.per_channel:
        if opset < 13:
            report.error("opset", node, f"per-channel Q/DQ needs opset 13 (the axis attribute), model is opset "
                                        f"{opset}; re-export with --opset 17")
        data = node.inputs[0]
        is_weight = constant_values(data) is not None or (
            node.op == DQ_OP and producer(data) is None)
        if not is_weight:
            report.error("per-channel-activation", node, f"per-channel scale ({params.scale.size} channels, axis "
                                                         f"{params.axis}) on a computed tensor; TensorRT supports "
                                                         f"per-tensor activation quantization only")
        else:
            _check_weight_axis(node, params, report)


def _weight_users(node: gs.Node) -> list[tuple[gs.Node, gs.Tensor]]:
    """(op, dequantized weight tensor) for the ops reading the weight (through the DQ when `node` is a Q)."""
    if node.op == Q_OP:
        dequantized = [dq.outputs[0] for dq in consumers(node.outputs[0]) if dq.op == DQ_OP]
    else:
        dequantized = [node.outputs[0]]
    return [(user, tensor) for tensor in dequantized for user in consumers(tensor)]


def _check_weight_axis(node: gs.Node, params, report: LintReport) -> None:
    for user, tensor in _weight_users(node):
        expected = WEIGHT_AXIS.get(user.op)
        if expected is None or len(user.inputs) < 2 or user.inputs[1] is not tensor:
            continue
        rank = len(tensor.shape) if tensor.shape is not None else 4
        if params.axis % rank != expected:
            report.error("weight-axis", node, f"per-channel weight quantizer of {user.op} {_name(user)} is on axis "
                                              f"{params.axis}; TensorRT needs the output-channel axis {expected}")


def _check_pairs(graph: gs.Graph, report: LintReport) -> None:
    for node in graph.nodes:
        if node.op == Q_OP:
            users = consumers(node.outputs[0])
            others = [u for u in users if u.op != DQ_OP]
            if others or node.outputs[0] in graph.outputs:
                report.error("pair", node, "output feeds " + (", ".join(f"{u.op} {_name(u)}" for u in others)
                                                            or "a graph output") + " instead of a DequantizeLinear")
            mine = qparams(node)
            for dq in (u for u in users if u.op == DQ_OP):
                theirs = qparams(dq)
                if mine is not None and theirs is not None and not mine.same_as(theirs):
                    report.error("pair", dq, f"dequantizes {_name(node)}'s output with another scale/zero point")
        elif node.op == DQ_OP:
            data = node.inputs[0]
            maker = producer(data)
            if constant_values(data) is None and maker is not None and maker.op != Q_OP:
                report.error("pair", node, f"dequantizes the output of {maker.op} {_name(maker)}, not of a "
                                           f"QuantizeLinear or a constant")


def _input_scale(tensor) -> tuple[float | None, gs.Node | None]:
    """Scale of the DQ producing `tensor` (per-tensor), or None when it is not dequantized."""
    maker = producer(tensor)
    if maker is not None and maker.op == DQ_OP:
        return _scalar(qparams(maker)), maker
    return None, None


def _output_scales(tensor) -> list[tuple[float, gs.Node]]:
    """Scales of the per-tensor Q nodes reading `tensor` (directly or after an emulation Clip)."""
    found = []
    for user in consumers(tensor):
        targets = [user] if user.op == Q_OP else (
            [c for c in consumers(user.outputs[0]) if c.op == Q_OP] if user.op == "Clip" else [])
        for q in targets:
            scale = _scalar(qparams(q))
            if scale is not None:
                found.append((scale, q))
    return found


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def _check_concats(graph: gs.Graph, report: LintReport) -> None:
    for node in graph.nodes:
        if node.op != "Concat":
            continue
        scales = [(s, n) for s, n in (_input_scale(t) for t in node.inputs) if s is not None]
        scales += _output_scales(node.outputs[0])
        if len(scales) < 2:
            continue
        distinct = sorted({round(s, 12) for s, _ in scales})
        if any(not _close(distinct[0], s) for s in distinct[1:]):
            detail = ", ".join(f"{_name(n)}={s:.6g}" for s, n in scales)
            report.error("concat-scale", node, f"inputs/consumers quantized with different scales ({detail}); "
                                               f"TensorRT needs one shared scale to concatenate in int8")


def _check_placement(graph: gs.Graph, report: LintReport) -> None:
    for node in graph.nodes:
        if node.op == Q_OP:
            maker = producer(node.inputs[0])
            if maker is not None and maker.op == "Conv":
                report.warn("conv-output", node, f"quantizes the output of Conv {_name(maker)}; TensorRT fuses "
                                                 f"best with Q/DQ on conv inputs and weights only")
        elif node.op in ("MaxPool", "Resize", "Upsample"):
            before, _ = _input_scale(node.inputs[0])
            for after, q in _output_scales(node.outputs[0]):
                if before is not None and not _close(before, after):
                    report.warn("commute-scale", q, f"scale {after:.6g} after {node.op} {_name(node)} differs from "
                                                    f"{before:.6g} before it; it commutes with Q/DQ, share one")
        elif node.op == "Add" and len(node.inputs) == 2:
            if not _output_scales(node.outputs[0]):
                continue
            for tensor in node.inputs:
                if producer(tensor) is not None and producer(tensor).op == DQ_OP:
                    continue
                if _output_scales(tensor):
                    report.warn("residual-add", node, f"reads {tensor.name} unquantized although it is quantized "
                                                      f"for another consumer; quantize the residual input so "
                                                      f"TensorRT can fuse the Add into the conv")


def lint_model(model: onnx.ModelProto | str | Path, path: str | None = None) -> LintReport:
    """Every finding for `model` (a path, or a loaded ModelProto named `path` in the report)."""
    if not isinstance(model, onnx.ModelProto):
        path = str(model)
        model = load_onnx(model)
    path = path or "<in memory>"
    opset = opset_version(model)
    graph = gs.import_onnx(model)
    report = LintReport(path)
    for node in graph.nodes:
        if node.op in (Q_OP, DQ_OP):
            report.n_quantize += node.op == Q_OP
            report.n_dequantize += node.op == DQ_OP
            _check_qdq_node(node, opset, report)
    _check_pairs(graph, report)
    _check_concats(graph, report)
    _check_placement(graph, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.lint", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="ONNX files to check")
    parser.add_argument("--strict", action="store_true", help="warnings fail too")
    parser.add_argument("--json", type=Path, help="also write the findings as JSON here")
    args = parser.parse_args(argv)
    failed = False
    reports = []
    for path in args.models:
        report = lint_model(path)
        reports.append(report.to_dict())
        for finding in report.findings:
            print(finding)
        verdict = "FAIL" if report.errors or (args.strict and report.warnings) else "ok"
        print(f"{path}: {verdict}: {len(report.errors)} errors, {len(report.warnings)} warnings "
              f"({report.n_quantize} Q, {report.n_dequantize} DQ)")
        if report.n_quantize + report.n_dequantize == 0:
            print(f"{path}: note: no Q/DQ nodes; an INT8 TensorRT build of it would fall back to FP16/FP32")
        failed |= verdict == "FAIL"
    if args.json:
        from common.atomic import write_json_atomic
        write_json_atomic(args.json, reports if len(reports) > 1 else reports[0])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
