"""How closely an exported QDQ graph reproduces the torch fake-quant model, measured at every quantizer.

For each activation QuantizeLinear of the graph that comes from a calib TensorQuantizer (matched by the
TorchScript exporter's node names, "/model.2/cv1/conv/input_quantizer/QuantizeLinear" -> quantizer
"model.2.cv1.conv.input_quantizer"; "input_quantizer_1" is the quantizer's second call, as in SPPF), the
dequantized values ONNX Runtime computes are compared with the fake-quantized values torch computes, in units of
the graph's quantization step. Both run the whole network independently, so a value that one runtime rounds to
the neighbouring level (float accumulation order differs between runtimes) propagates downstream: the figure is
end-to-end: "agrees" means within one quantization step on nearly all elements.
"""
import re
from collections import defaultdict

import numpy as np
import onnx
import torch
from torch import nn

from common.errors import QYoloError
from common.onnx_file import load_onnx
from export.qdq import Q_OP

_NAME = re.compile(r"^/(?P<module>.+)/(?P<quantizer>[A-Za-z_]*quantizer)(?:_(?P<call>\d+))?/QuantizeLinear$")


def quantizer_key(node_name: str) -> tuple[str, int] | None:
    """("model.2.cv1.conv.input_quantizer", call index) for an exported Q node name, else None."""
    match = _NAME.match(node_name)
    if not match:
        return None
    parts: list[str] = []
    for piece in match["module"].split("/"):  # scopes repeat the container: "/model.2/m/m.0/cv1" = model.2.m.0.cv1
        if parts and piece.startswith(parts[-1] + "."):
            parts[-1] = piece
        else:
            parts.append(piece)
    return ".".join(parts + [match["quantizer"]]), int(match["call"] or 0)


def _torch_values(model: nn.Module, x: np.ndarray) -> dict[tuple[str, int], torch.Tensor]:
    from calib.modes import quantizers

    captured: dict[tuple[str, int], torch.Tensor] = {}
    calls: defaultdict[str, int] = defaultdict(int)
    hooks = []
    for name, quantizer in quantizers(model):
        if name.endswith("weight_quantizer"):
            continue

        def hook(module, inputs, output, name=name):
            captured[(name, calls[name])] = output.detach()
            calls[name] += 1
        hooks.append(quantizer.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(torch.from_numpy(x))
    finally:
        for handle in hooks:
            handle.remove()
    return captured


def qdq_agreement(onnx_path, model: nn.Module, x: np.ndarray, threads: int = 2) -> dict:
    """Compare every matched quantizer's values (ONNX Runtime vs torch) on input `x` (float32 NCHW in [0, 1])."""
    import onnxruntime as ort
    from onnx import numpy_helper

    proto = load_onnx(onnx_path)
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    targets = []
    for node in proto.graph.node:
        key = quantizer_key(node.name) if node.op_type == Q_OP else None
        if key is None or node.input[1] not in inits or inits[node.input[1]].size != 1:
            continue
        zero = inits[node.input[2]] if len(node.input) > 2 and node.input[2] in inits else np.zeros((), np.uint8)
        targets.append((key, node.output[0], float(inits[node.input[1]]), int(zero)))
    known = {o.name for o in proto.graph.output}
    for _, tensor, _, _ in targets:
        if tensor not in known:
            proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [t for _, t, _, _ in targets]
    graph_input = session.get_inputs()[0]
    static_batch = graph_input.shape[0] if isinstance(graph_input.shape[0], int) else None
    chunk = static_batch or len(x)
    if len(x) % chunk:
        raise QYoloError(f"{onnx_path} has a static batch of {static_batch}; use --images as a multiple of it")
    runs = [session.run(names, {graph_input.name: x[i:i + chunk]}) for i in range(0, len(x), chunk)]
    codes = {name: np.concatenate([r[k] for r in runs]) for k, name in enumerate(names)}
    reference = _torch_values(model, x)
    total = exact = within_one = 0
    worst = 0.0
    per_quantizer = []
    for key, tensor, scale, zero in targets:
        if key not in reference:
            continue
        graph_values = (codes[tensor].astype(np.float64) - zero) * scale
        steps = np.abs(graph_values - reference[key].double().numpy()) / scale
        n = steps.size
        total += n
        exact += int((steps < 0.5).sum())
        within_one += int((steps < 1.5).sum())
        worst = max(worst, float(steps.max()))
        per_quantizer.append({"quantizer": key[0], "call": key[1], "elements": n,
                              "exact": float((steps < 0.5).mean()), "max_steps": float(steps.max())})
    return {"quantizers_compared": len(per_quantizer), "elements": total,
            "exact_fraction": exact / total if total else None,
            "within_one_step_fraction": within_one / total if total else None,
            "max_steps": worst, "per_quantizer": per_quantizer}


def main(argv=None) -> int:
    """`python -m export.fidelity --artifact a.pt --onnx a_trt.onnx --data images/`: agreement per quantizer."""
    import json

    from common.atomic import check_output_file, write_json_atomic
    from common.cli import CliParser, image_size, positive_int
    from common.provenance import file_sha256
    from export.metadata import check_metadata
    from export.source import calibration_batches, load_source

    parser = CliParser(prog="python -m export.fidelity", description=main.__doc__)
    parser.add_argument("--artifact", required=True, help="the calibrated artifact the ONNX was exported from")
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--data", required=True, help="images to compare on (folder or dataset)")
    parser.add_argument("--images", type=positive_int, default=8)
    parser.add_argument("--imgsz", type=image_size, default=None, help="default: the ONNX's qyolo.imgsz")
    parser.add_argument("--out", help="write the full report (per quantizer) as JSON here")
    args = parser.parse_args(argv)
    if args.out:
        check_output_file(args.out)
    proto = load_onnx(args.onnx)
    props = check_metadata({p.key: p.value for p in proto.metadata_props}, args.onnx)
    dims = proto.graph.input[0].type.tensor_type.shape.dim if proto.graph.input else []
    fixed = dims[2].dim_value if len(dims) == 4 and dims[2].dim_value > 0 else None  # a static input size
    imgsz = args.imgsz or int(props.get("qyolo.imgsz", fixed or 640))
    if fixed and imgsz != fixed:
        raise QYoloError(f"{args.onnx} takes {fixed}x{fixed} inputs but --imgsz is {imgsz}; use --imgsz {fixed}")
    model, meta = load_source(artifact=args.artifact)
    exported_from = props.get("qyolo.artifact_sha256")
    if exported_from and exported_from != file_sha256(args.artifact):
        raise QYoloError(f"{args.onnx} was not exported from {args.artifact} (its qyolo.artifact_sha256 names "
                         f"another file: {props.get('qyolo.artifact', '?')}); give the artifact it came from, or "
                         "re-export it from this one")
    x = np.concatenate(list(calibration_batches(meta, imgsz, args.images, data=args.data)))
    report = qdq_agreement(args.onnx, model, x)
    summary = {k: v for k, v in report.items() if k != "per_quantizer"}
    print(json.dumps(summary, indent=1))
    if args.out:
        write_json_atomic(args.out, report)
    if not report["quantizers_compared"]:
        raise QYoloError(f"no quantizer of {args.onnx} matched one of {args.artifact}: nothing was compared; give "
                         "the QDQ ONNX exported from this artifact (python -m export --artifact ...)")
    return 0


if __name__ == "__main__":
    import sys

    from common.cli import run_cli

    sys.exit(run_cli(main))
