"""python -m scripts.fidelity_table: deployment fidelity of calibrated artifacts on every CPU runtime, with AP.

For each artifact it exports the deployable graphs, then runs the fidelity check (`eval.fidelity`) and a full AP
evaluation of each graph on ONNX Runtime and OpenVINO, beside the artifact's own fake-quant AP in PyTorch:
    sym artifact:   trt (int8 activations), cpu-u8 (the same grid re-encoded as uint8 with zero point 128,
                    `--profile cpu --no-integer-ops`: the numbers of the trt graph, in the data type CPUs run well)
    asym artifact:  cpu (integer-op completed, for ONNX Runtime), cpuexact (`--no-integer-ops`, for OpenVINO)
With --perturb, copies of one graph whose middle activation is dequantized with a scale off by each factor are
evaluated too: graded, known errors, the data the check's thresholds are chosen from (AP change vs figures).
Every row is written to --out as it completes (rows.json); a rerun skips rows already there.
Outputs: fidelity.json, fidelity.md, fidelity.png (AP change against the check's F1, verdict per point).
"""
import argparse
import json
import sys
from pathlib import Path

from common.atomic import check_output_dir, write_json_atomic, write_text_atomic
from common.cli import CliParser, positive_int, run_cli
from common.errors import QYoloError
from common.log import get_logger

GRAPHS = {"sym": (("trt", "trt", None), ("cpu-u8", "cpu", False)),
          "asym": (("cpu", "cpu", None), ("cpuexact", "cpu", False))}
BACKENDS = ("ort", "openvino")


def _artifact_info(path: Path) -> dict:
    sidecar = path.with_name(path.name + ".json")
    if not sidecar.is_file():
        raise QYoloError(f"{path} has no sidecar {sidecar.name}; give artifacts written by python -m calib")
    meta = json.loads(sidecar.read_text())
    return {"scheme": meta["scheme"], "w_bits": meta["w_bits"], "a_bits": meta["a_bits"], "imgsz": meta["imgsz"]}


def _ap(model: Path, backend: str, data: str, imgsz: int, out: Path, max_images: int | None) -> float:
    from eval import EvalConfig, evaluate

    cfg = EvalConfig(model=model, data=data, backend=backend, imgsz=imgsz, out=out, max_images=max_images,
                     fidelity=False, progress=False, backend_options={"threads": 2} if backend != "torch" else {})
    return evaluate(cfg)["AP"]


def _fidelity(model: Path, backend: str, artifact: Path, images: int) -> dict:
    from eval.fidelity import FidelityConfig, check_fidelity

    return check_fidelity(FidelityConfig(model=model, backend=backend, artifact=artifact, images=images,
                                         progress=False, backend_options={"threads": 2}))


def _export(artifact: Path, profile: str, integer_ops, imgsz: int, out: Path) -> Path:
    from export import ExportConfig, export_onnx

    if not out.is_file():
        export_onnx(ExportConfig(out=out, artifact=artifact, profile=profile, imgsz=imgsz, dynamic_batch=True,
                                 integer_ops=integer_ops))
    return out


class _Rows:
    """Rows by key, saved after every change (a rerun keeps the finished AP runs); remembers which were used."""

    def __init__(self, path: Path):
        self.path, self.visited = path, []
        self.rows: dict = json.loads(path.read_text()) if path.is_file() else {}

    def has(self, key: str) -> bool:
        return key in self.rows

    def put(self, key: str, row: dict) -> dict:
        self.rows[key] = row
        return self.get(key)

    def get(self, key: str) -> dict:
        self.visited.append(key)
        return self.rows[key]

    def save(self) -> None:
        write_json_atomic(self.path, self.rows)


def run(artifacts: list[Path], data: str, out: Path, images: int, perturb: list[float],
        max_images: int | None, perturb_indices: list[int | None] = (None,)) -> list[dict]:
    log = get_logger()
    rows = _Rows(out / "rows.json")

    def measured(key: str, graph: Path, backend: str, artifact: Path, labels: dict, reference: dict,
                 imgsz: int) -> None:
        row = rows.get(key) if rows.has(key) else rows.put(key, {
            **labels, "AP": _ap(graph, backend, data, imgsz, out / "metrics" / f"{graph.stem}-{backend}.json",
                                max_images)})
        row.update(AP_change=round(row["AP"] - reference["AP"], 4), graph_path=str(graph))
        report = _fidelity(graph, backend, artifact, images)  # seconds: redone so verdicts follow the thresholds
        row.update(verdict=report["verdict"], figures=report["figures"], reasons=report["reasons"])
        rows.save()

    for artifact in artifacts:
        info = _artifact_info(artifact)
        labels = {"artifact": artifact.stem, "bits": f"W{info['w_bits']}A{info['a_bits']}"}
        key = f"{artifact.stem}|torch"
        reference = rows.get(key) if rows.has(key) else rows.put(key, {
            **labels, "graph": "fake-quant", "backend": "torch",
            "AP": _ap(artifact, "torch", data, info["imgsz"], out / "metrics" / f"{artifact.stem}-torch.json",
                      max_images)})
        rows.save()
        for name, profile, integer_ops in GRAPHS[info["scheme"]]:
            graph = _export(artifact, profile, integer_ops, info["imgsz"],
                            out / "onnx" / f"{artifact.stem}_{name}.onnx")
            for backend in BACKENDS:
                log.info(f"{artifact.stem} {name} on {backend}")
                measured(f"{artifact.stem}|{name}|{backend}", graph, backend, artifact,
                         {**labels, "graph": name, "backend": backend}, reference, info["imgsz"])
        if not perturb or info["scheme"] != "asym" or info["a_bits"] != 8:
            continue
        from eval.fidelity.perturb import scale_activation

        base = out / "onnx" / f"{artifact.stem}_cpuexact.onnx"
        for index in perturb_indices:
            where = "middle" if index is None else f"#{index}"
            for factor in perturb:
                broken = out / "onnx" / f"{artifact.stem}_cpuexact_dq{'' if index is None else index}-x{factor:g}.onnx"
                if not broken.is_file():
                    scale_activation(base, broken, factor, index)
                key = f"{artifact.stem}|perturb {'' if index is None else where + ' '}x{factor:g}|ort"
                measured(key, broken, "ort", artifact, {**labels, "backend": "ort",
                         "graph": f"cpuexact, {where} activation DQ scale x{factor:g}"}, reference, info["imgsz"])
    return [rows.rows[key] for key in dict.fromkeys(rows.visited)]


def to_markdown(rows: list[dict]) -> str:
    head = ("| artifact | graph | backend | AP | AP change | verdict | F1@0.25 | IoU p05 | box p95 px | score p95 | "
            "count ratio | score p99 (all) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        f = r.get("figures") or {}
        cells = [r["artifact"], r["graph"], r["backend"], f"{100 * r['AP']:.1f}",
                 "" if "AP_change" not in r else f"{100 * r['AP_change']:+.1f}", r.get("verdict", "(reference)"),
                 f"{f['f1']:.3f}" if f else "", f"{f['box_iou_p05']:.3f}" if f else "",
                 f"{f['box_px_p95']:.2f}" if f else "", f"{f['score_p95']:.3f}" if f else "",
                 f"{f['count_ratio']:.2f}" if f else "", f"{f['score_p99']:.3f}" if f else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eval.fidelity.compare import Thresholds

    colors = {"pass": "tab:green", "warn": "tab:orange", "fail": "tab:red"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        if r.get("figures"):
            ax.scatter(100 * r["AP_change"], r["figures"]["f1"], c=colors[r["verdict"]], s=28)
    ax.axhline(Thresholds().f1_pass, ls="--", c="tab:green", lw=1, label="F1 pass bound")
    ax.axhline(Thresholds().f1_fail, ls="--", c="tab:red", lw=1, label="F1 fail bound")
    ax.axvline(-0.3, ls=":", c="grey", lw=1, label="-0.3 AP")
    ax.set_xlabel("AP change vs the artifact's fake-quant AP (points)")
    ax.set_ylabel("fidelity F1 of detections at conf 0.25")
    ax.set_title("Deployment fidelity check: verdict (colour) against AP change")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = CliParser(prog="python -m scripts.fidelity_table", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", nargs="+", type=Path, required=True, help="calibrated artifacts (.pt)")
    parser.add_argument("--data", default="data/synthetic/annotations/instances_val.json", help="AP dataset")
    parser.add_argument("--images", type=positive_int, default=16, help="images for each fidelity check")
    parser.add_argument("--perturb", type=float, nargs="*", default=[],
                        help="DQ scale factors for the known-error rows, e.g. 0.5 0.9 1.1 2 4")
    parser.add_argument("--perturb-index", nargs="*", default=["middle"],
                        help="activation DQ indices to perturb, in graph order, or 'middle' (default)")
    parser.add_argument("--max-images", type=positive_int, help="AP on the first N images only")
    parser.add_argument("--out", type=Path, default=Path("runs/fidelity"))
    args = parser.parse_args(argv)
    check_output_dir(args.out)
    import torch

    torch.set_num_threads(1)  # the fake-quant reference: one thread is faster on a shared 2-core machine
    for artifact in args.artifacts:
        if not artifact.is_file():
            raise QYoloError(f"artifact {artifact} does not exist; run python -m calib first")
    try:
        indices = [None if i == "middle" else int(i) for i in args.perturb_index]
    except ValueError:
        parser.error(f"--perturb-index takes integers or 'middle', got {args.perturb_index}")
    rows = run(args.artifacts, args.data, args.out, args.images, args.perturb, args.max_images, indices)
    write_json_atomic(args.out / "fidelity.json", rows)
    markdown = to_markdown(rows)
    write_text_atomic(args.out / "fidelity.md", markdown)
    plot(rows, args.out / "fidelity.png")
    print(markdown)
    print(f"written: {args.out}/fidelity.json, fidelity.md, fidelity.png")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
