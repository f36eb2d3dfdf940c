"""Bad-input probe: every class of hostile or damaged input, through the real command lines, judged the way a user
sees it. A case passes when it ends in exactly one `error:` line with exit code 2 (or, for inputs with one correct
reading, exit 0), never a traceback, and no crafted checkpoint ran code.

    python -m scripts.bad_input_probe                  # all cases (a few minutes on 2 cores)
    python -m scripts.bad_input_probe --only ckpt onnx # some classes
    python -m scripts.bad_input_probe --json runs/probe.json

Classes: ckpt (crafted .pt files through every stage), data (COCO records, class order, YOLO labels), limits
(sizes and threads), paths (outputs that are no files, unreadable inputs), onnx (graphs from elsewhere), yaml
(model yamls), options (contradictions), make (pipeline variables).
"""
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

from common.atomic import temporary_folder, write_json_atomic
from common.cli import CliParser, run_cli
from common.pt_file import read_pt
from yolo.fixture import FIXTURE_WEIGHTS
from yolo.synthetic import CLASS_NAMES

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("ckpt", "data", "limits", "paths", "onnx", "yaml", "options", "make")


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _dataset(root: Path, categories=None, edit=None) -> Path:
    (root / "val").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in (1, 2):
        image = np.zeros((64, 64, 3), np.uint8)
        image[16:48, 16:48] = 255
        cv2.imwrite(str(root / "val" / f"{i}.jpg"), image)
        images.append({"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 64})
        anns.append({"id": i, "image_id": i, "category_id": 2, "bbox": [16, 16, 32, 32], "area": 1024, "iscrowd": 0})
    data = {"images": images, "annotations": anns,
            "categories": categories or [{"id": i + 1, "name": n} for i, n in enumerate(CLASS_NAMES)]}
    if edit:
        edit(data)
    (root / "annotations").mkdir(exist_ok=True)
    path = root / "annotations" / "instances_val.json"
    path.write_text(json.dumps(data))
    return path


def _pickled(path: Path, obj, **kwargs) -> Path:
    torch.save(obj, path, **kwargs)
    return path


def _ckpt_cases(s: Path, data: Path) -> list:
    marker = s / "owned"
    evil = _pickled(s / "evil.pt", {"model": _Evil(marker), "epoch": 1})
    nested = _pickled(s / "nested.pt", {"model": torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1)), "x": [{"y": _Evil(
        marker)}]})
    legacy = _pickled(s / "legacy.pt", {"model": _Evil(marker)}, _use_new_zipfile_serialization=False)
    proto5 = _pickled(s / "proto5.pt", {"model": _Evil(marker)}, pickle_protocol=5)
    raw = s / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Evil(marker), protocol=0))
    family = s / "family.pkl"  # os.system reached as models.common.os.system (protocol 4: STACK_GLOBAL)
    strings = [b"models.common.os", b"system", f"touch {marker}".encode()]
    short = [bytes([0x8c, len(t)]) + t for t in strings]  # SHORT_BINUNICODE
    family.write_bytes(b"\x80\x04" + short[0] + short[1] + b"\x93" + short[2] + b"\x85R.")
    scripted = s / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Identity()), scripted)
    images = str(data.parent.parent / "val")
    few = ["--imgsz", "64", "--num-images", "2", "--no-progress"]
    cases = [(f"eval {p.name}", ["-m", "eval", "--weights", str(p), "--data", str(data), "--imgsz", "64",
                                 "--out", str(s / "e")], "refused") for p in (evil, nested, legacy, proto5, raw, family,
                                                                              scripted)]
    cases += [
        ("calib evil.pt", ["-m", "calib", "--weights", str(evil), "--data", images, "--out", str(s / "a.pt"), *few]),
        ("export --weights evil.pt", ["-m", "export", "--weights", str(evil), "--profile", "fp32", "--out",
                                      str(s / "m.onnx")]),
        ("export --artifact evil.pt", ["-m", "export", "--artifact", str(evil), "--out", str(s / "m.onnx")]),
        ("sensitivity evil.pt", ["-m", "sensitivity", "--weights", str(evil), "--calib-data", images, "--val-data",
                                 str(data), "--out", str(s / "sens"), *few]),
        ("mixed evil.pt", ["-m", "mixed", "--weights", str(evil), "--calib-data", images, "--val-data", str(data),
                           "--out", str(s / "mix"), *few]),
        ("calib.plot evil.pt", ["-m", "calib.plot", "--weights", str(evil), "--data", images, "--out",
                                str(s / "plot"), *few]),
    ]
    return [(name, argv, kind[0] if kind else "refused") for name, argv, *kind in cases]


def _data_cases(s: Path, data: Path) -> list:
    def ann(key, value):
        return lambda d: d["annotations"][0].__setitem__(key, value)

    edits = {"duplicate annotation ids": ann("id", 2), "string image id": lambda d: d["images"][0].__setitem__(
        "id", "1"), "NaN bbox": ann("bbox", [1, float("nan"), 2, 3]), "bbox of 3 numbers": ann("bbox", [1, 2, 3]),
        "category without id": lambda d: d["categories"][0].pop("id"), "annotation without image_id":
        lambda d: d["annotations"][0].pop("image_id")}
    cases = []
    for name, edit in edits.items():
        path = _dataset(s / name.replace(" ", "_"), edit=edit)
        cases.append((f"coco: {name}", _eval(path, s), "refused"))
    for name, edit in {"missing iscrowd": lambda d: [a.pop("iscrowd") for a in d["annotations"]],
                       "missing area": lambda d: [a.pop("area") for a in d["annotations"]]}.items():
        cases.append((f"coco: {name}", _eval(_dataset(s / name.replace(" ", "_"), edit=edit), s), "handled"))
    swapped = [{"id": i + 1, "name": n} for i, n in enumerate(reversed(CLASS_NAMES))]
    cases.append(("coco: classes in another order", _eval(_dataset(s / "swapped", swapped), s), "handled"))
    other = [{"id": i + 1, "name": f"thing{i}"} for i in range(len(CLASS_NAMES))]
    cases.append(("coco: other class names", _eval(_dataset(s / "other", other), s), "refused"))
    yolo = s / "yolo"
    (yolo / "images").mkdir(parents=True)
    (yolo / "labels").mkdir()
    cv2.imwrite(str(yolo / "images" / "1.jpg"), np.zeros((64, 64, 3), np.uint8))
    (yolo / "labels" / "1.txt").write_text("0 0.5 nan 0.2 0.2\n")
    (yolo / "data.yaml").write_text(f"path: .\nval: images\nnames: {list(CLASS_NAMES)}\n")
    cases.append(("yolo: NaN label", _eval(yolo / "data.yaml", s), "refused"))
    return cases


def _eval(data: Path, s: Path, *extra: str, imgsz: str = "64", out: Path | None = None) -> list[str]:
    return ["-m", "eval", "--weights", str(FIXTURE_WEIGHTS), "--data", str(data), "--imgsz", imgsz, "--no-progress",
            "--out", str(out or s / "eval-out"), *extra]


def _limits_cases(s: Path, data: Path) -> list:
    plain = s / "plain.pt"
    torch.save(read_pt(FIXTURE_WEIGHTS)["state_dict"], plain)  # weights without their yaml: --cfg gives it
    wide = s / "wide.yaml"
    wide.write_text(yaml.safe_dump({**read_pt(FIXTURE_WEIGHTS)["yaml"], "width_multiple": 64}))
    return [
        ("--imgsz 99968", _eval(data, s, imgsz="99968"), "refused"),
        ("--batch 100000", _eval(data, s, "--batch", "100000"), "refused"),
        ("--threads 100000 (eval)", _eval(data, s, "--threads", "100000"), "refused"),
        ("--threads 100000 (calib)", ["-m", "calib", "--threads", "100000", "--no-progress"], "refused"),
        ("width_multiple 64 yaml", ["-m", "calib", "--weights", str(plain), "--cfg", str(wide), "--data",
                                    str(data.parent.parent / "val"), "--no-progress"], "refused"),
    ]


def _paths_cases(s: Path, data: Path) -> list:
    fifo = s / "fifo.json"
    os.mkfifo(fifo)
    folder = s / "folder.onnx"
    folder.mkdir()
    return [
        ("--out FIFO (eval)", _eval(data, s, out=fifo), "refused"),
        ("--out FIFO (export.fidelity --out)", ["-m", "export.fidelity", "--artifact", "a.pt", "--onnx", "m.onnx",
                                                "--data", str(data), "--out", str(fifo)], "refused"),
        ("--out FIFO (eval.fidelity --out)", ["-m", "eval.fidelity", "--model", "m.onnx", "--out", str(fifo)],
         "refused"),
        ("--out folder as file (export)", ["-m", "export", "--weights", str(FIXTURE_WEIGHTS), "--profile", "fp32",
                                           "--out", str(folder)], "refused"),
        ("--data FIFO", ["-m", "eval", "--weights", str(FIXTURE_WEIGHTS), "--data", str(fifo)], "refused"),
    ]


def _onnx_cases(s: Path, data: Path) -> list:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def graph(channels=3, ir=8, meta=None):
        w = numpy_helper.from_array(np.ones((2, channels, 1, 1), np.float32), "w")
        shape = numpy_helper.from_array(np.array([1, 2, 4096], np.int64), "shape")
        g = helper.make_graph([helper.make_node("Conv", ["images", "w"], ["c"]),
                               helper.make_node("Reshape", ["c", "shape"], ["pred"])], "g",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, channels, 64, 64])],
                              [helper.make_tensor_value_info("pred", TensorProto.FLOAT, [1, 2, 4096])], [w, shape])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = ir
        for key, value in (meta or {}).items():
            model.metadata_props.add(key=key, value=value)
        return model

    paths = {}
    for name, model in {"1-channel input": graph(1), "IR newer than onnx": graph(ir=onnx.IR_VERSION + 1),
                        "garbage qyolo.imgsz": graph(meta={"qyolo.imgsz": "big"}),
                        "garbage qyolo.names": graph(meta={"qyolo.names": "{"})}.items():
        paths[name] = s / f"{name.replace(' ', '_')}.onnx"
        onnx.save_model(model, str(paths[name]))
    plain = s / "plain.onnx"
    onnx.save_model(graph(), str(plain))
    external = s / "external.onnx"
    onnx.save_model(graph(), str(external), save_as_external_data=True, location="external.data", size_threshold=0)
    (s / "external.data").unlink()
    cases = [(f"onnx: {name}", ["-m", "eval", "--backend", "ort", "--weights", str(p), "--data", str(data),
                                "--out", str(s / "o")], "refused") for name, p in paths.items()]
    cases += [("onnx: external data missing (eval)", ["-m", "eval", "--backend", "ort", "--weights", str(external),
                                                       "--data", str(data), "--out", str(s / "o")], "refused"),
              ("onnx: external data missing (lint)", ["-m", "export.lint", str(external)], "refused"),
              ("fidelity: non-YOLO ONNX", ["-m", "eval.fidelity", "--model", str(plain)], "refused")]
    return cases


def _yaml_cases(s: Path, data: Path) -> list:
    binary = s / "model.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    string_backbone = s / "string.yaml"
    string_backbone.write_text("nc: 8\nbackbone: Conv\nhead: []\n")
    plain = s / "state_dict.pt"
    torch.save({"w": torch.zeros(1)}, plain)
    return [(f"--cfg {p.name}", ["-m", "calib", "--weights", str(plain), "--cfg", str(p), "--data",
                                 str(data.parent.parent / "val"), "--num-images", "2", "--imgsz", "64",
                                 "--out", str(s / "y.pt")], "refused") for p in (binary, string_backbone)]


def _options_cases(s: Path, data: Path) -> list:
    weights = ["--weights", str(FIXTURE_WEIGHTS), "--out", str(s / "m.onnx")]
    return [
        ("--placement --no-placement", ["-m", "export", *weights, "--placement", "--no-placement"], "refused"),
        ("--imgsz twice", ["-m", "export", *weights, "--imgsz", "256", "--imgsz", "320"], "refused"),
        ("--lint with cpu", ["-m", "export", *weights, "--profile", "cpu", "--lint"], "refused"),
        ("--percentile with uh", ["-m", "calib", "--method", "uh", "--percentile", "99"], "refused"),
        ("--target-drop nan", ["-m", "mixed", "--target-drop", "nan"], "refused"),
        ("--val-data missing (mixed)", ["-m", "mixed", "--val-data", str(s / "none.json"), "--out", str(s / "mx")],
         "refused"),
    ]


def _make_cases(s: Path, data: Path) -> list:
    return [(f"make {' '.join(args)}", ["make", "-n", *args], "refused") for args in (
        ["calibrate", "WEIGHTS=missing.pt"], ["export", "PROFILE=tensorrt"], ["bench", "METHOD=kl"])]


def _judge(done: subprocess.CompletedProcess, expected: str, marker: Path) -> tuple[bool, str]:
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith(("WARNING", "INFO"))]
    if marker.exists():
        return False, "CODE RAN"
    if "Traceback" in done.stderr:
        return False, "traceback"
    if expected == "handled":
        return done.returncode == 0, f"exit {done.returncode}"
    one_line = len(lines) == 1 and (lines[0].startswith("error:") or "***" in lines[0])
    return done.returncode == 2 and one_line, f"exit {done.returncode}, {len(lines)} line(s)"


def probe(classes, out: Path | None) -> list[dict]:
    from tqdm import tqdm

    records = []
    with temporary_folder("qyolo-probe-") as scratch:
        data = _dataset(scratch / "data")
        cases = [(cls, *case) for cls in classes for case in globals()[f"_{cls}_cases"](scratch, data)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        for cls, name, argv, expected in tqdm(cases, desc="probe", unit="case"):
            command = argv if argv[0] == "make" else [sys.executable, *argv]
            started = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT if argv[0] == "make" else scratch, env={**env, "PYTHONPATH": str(
                ROOT)}, capture_output=True, text=True, timeout=600)
            ok, how = _judge(done, expected, scratch / "owned")
            last = (done.stderr.strip().splitlines() or [""])[-1]
            records.append({"class": cls, "case": name, "expected": expected, "ok": ok, "how": how,
                            "seconds": round(time.perf_counter() - started, 1), "message": last[:160]})
    width = max(len(r["case"]) for r in records)
    for r in records:
        print(f"{'ok ' if r['ok'] else 'BAD'} {r['class']:8} {r['case']:{width}}  {r['how']:22} {r['message'][:90]}")
    print(f"{sum(r['ok'] for r in records)} of {len(records)} cases end well")
    if out:
        write_json_atomic(out, records)
    return records


def main(argv=None) -> int:
    parser = CliParser(prog="python -m scripts.bad_input_probe", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=CLASSES, default=list(CLASSES))
    parser.add_argument("--json", type=Path, default=None, help="write the records here")
    args = parser.parse_args(argv)
    records = probe(args.only, args.json)
    return 0 if all(r["ok"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
