"""Every `python -m` CLI: a bad option is one line naming it (exit 2); SIGTERM cleans up as Ctrl-C does."""
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.cli import CliParser, image_size, non_negative_int, positive_int, run_cli, torch_device
from yolo.fixture import FIXTURE_WEIGHTS

ROOT = Path(__file__).resolve().parents[2]


def _parser() -> CliParser:
    parser = CliParser(prog="python -m x")
    parser.add_argument("--n", type=positive_int)
    parser.add_argument("--k", type=non_negative_int)
    parser.add_argument("--imgsz", type=image_size)
    parser.add_argument("--device", type=torch_device)
    return parser


@pytest.mark.parametrize("argv, message", [
    (["--n", "0"], "argument --n: must be a positive integer, got 0 (see python -m x --help)"),
    (["--n", "two"], "argument --n: expected a positive integer, got 'two' (see python -m x --help)"),
    (["--k", "-1"], "argument --k: must be an integer >= 0, got -1 (see python -m x --help)"),
    (["--imgsz", "33"], "argument --imgsz: must be a positive multiple of 32 (the model's largest stride), got 33 "
                        "(see python -m x --help)"),
    (["--device", "tpu"], "argument --device: 'tpu' is not supported; use cpu, cuda or cuda:<index> "
                          "(see python -m x --help)"),
    (["--what"], "unrecognized arguments: --what (see python -m x --help)"),
])
def test_option_types_say_the_option_and_the_rule(argv, message, capsys):
    assert run_cli(lambda a: _parser().parse_args(a) and 0, argv) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_good_values_parse():
    args = _parser().parse_args(["--n", "3", "--k", "0", "--imgsz", "640", "--device", "cuda:1"])
    assert (args.n, args.k, args.imgsz, args.device) == (3, 0, 640, "cuda:1")


# (module, argv, the message's start): one bad value per CLI, each caught before any work.
CASES = [
    ("calib.__main__", ["--threads", "-1"], "argument --threads: must be a positive integer, got -1"),
    ("calib.__main__", ["--device", "tpu"], "argument --device: 'tpu' is not supported"),
    ("export.__main__", ["--weights", "w.pt", "--out", "m.onnx", "--batch", "0"],
     "argument --batch: must be a positive integer, got 0"),
    ("export.__main__", ["--weights", "w.pt", "--out", "m.onnx", "--imgsz", "100"],
     "argument --imgsz: must be a positive multiple of 32"),
    ("export.fidelity", ["--artifact", "a.pt", "--onnx", "m.onnx", "--data", "d", "--images", "0"],
     "argument --images: must be a positive integer, got 0"),
    ("export.lint", ["{tmp}"], "ONNX file {tmp} is a folder; give the .onnx file"),
    ("eval.__main__", ["--weights", "w.pt", "--data", "d", "--device", "tpu"],
     "argument --device: 'tpu' is not supported; use cpu, cuda or cuda:<index>"),
    ("eval.__main__", ["--weights", "w.pt", "--data", "d", "--threads", "-1"],
     "argument --threads: must be a positive integer, got -1"),
    ("eval.__main__", ["--weights", "w.pt", "--data", "d", "--conf-thres", "2"],
     "argument --conf-thres: must be a number in [0, 1], got 2.0"),
    ("bench.cli", ["cpu", "--arch", "yolov5s", "--imgsz", "33"], "argument --imgsz: must be a positive multiple of 32"),
    ("bench.cli", ["cpu", "--arch", "yolov9"], "argument --arch: invalid choice: 'yolov9'"),
    ("bench.cli", ["cpu", "--models", "m.onnx", "--threads", "0"],
     "argument --threads: must be a positive integer, got 0"),
    ("bench.cli", ["cpu", "--models", "m.onnx", "--imgsz", "640"], "--imgsz applies to --arch"),
    ("bench.cli", ["profile", "--models", "m.onnx", "--runs", "0"], "argument --runs: must be a positive integer"),
    ("bench.cli", ["anchors", "--fp32", "m.onnx", "--calib-data", "d", "--imgsz", "33"],
     "argument --imgsz: must be a positive multiple of 32"),
    ("bench.cli", ["report", "--metrics", "{tmp}/none.json"], "metrics file {tmp}/none.json does not exist"),
    ("bench.cli", ["trt", "e.engine", "--iterations", "0"], "argument --iterations: must be a positive integer"),
    ("engine.cli", ["build", "--onnx", "m.onnx", "--batch", "0"], "argument --batch: must be a positive integer"),
    ("results.__main__", ["record", "no-such-page"], "argument page: invalid choice: 'no-such-page'"),
    ("results.__main__", ["record", "table-fixture", "--from", "run"], "argument --from: expected KEY=PATH"),
    ("results.__main__", ["record", "table-fixture", "--from", "run={tmp}/none.json"],
     "table-fixture run file {tmp}/none.json does not exist"),
    ("tools.demo", ["--threads", "-1"], "argument --threads: must be an integer >= 0, got -1"),
    ("sweep.__main__", ["--threads", "-1"], "argument --threads: must be an integer >= 0, got -1"),
    ("sweep.__main__", ["--imgsz", "33"], "argument --imgsz: must be a positive multiple of 32"),
    ("sweep.__main__", ["--bits", "9-9"], "argument --bits: expected bit widths W-A with each in 2..8"),
    ("mixed.__main__", ["--low-bits", "x"], "argument --low-bits: expected bit widths W-A with each in 2..8"),
    ("eval.fidelity.__main__", ["--model", "m.onnx", "--images", "0"], "argument --images: must be a positive integer"),
    ("eval.fidelity.__main__", ["--model", "m.onnx", "--device", "tpu"], "argument --device: 'tpu' is not supported"),
    ("scripts.fidelity_table", ["--artifacts", "a.pt", "--images", "0"],
     "argument --images: must be a positive integer"),
    # contradictory, repeated or out-of-range options, refused before any work
    ("export.__main__", ["--weights", "w.pt", "--out", "m.onnx", "--placement", "--no-placement"],
     "--placement and --no-placement contradict each other; give one"),
    ("export.__main__", ["--weights", "w.pt", "--out", "m.onnx", "--imgsz", "256", "--imgsz=320"],
     "--imgsz 256 and --imgsz 320 contradict each other; give one"),
    ("export.__main__", ["--weights", "w.pt", "--out", "m.onnx", "--profile", "cpu", "--lint"],
     "--lint checks a graph against TensorRT's rules: it applies to --profile trt, not cpu"),
    ("calib.__main__", ["--method", "uh", "--percentile", "99"], "--percentile applies to --method percentile, not uh"),
    ("calib.__main__", ["--batch", "8", "--batch-size", "16"], "--batch 8 and --batch-size 16 contradict each other"),
    ("mixed.__main__", ["--target-drop", "nan"], "argument --target-drop: must be a finite number, got nan"),
    ("eval.__main__", ["--weights", "w.pt", "--data", "d", "--threads", "100000"],
     "argument --threads: 100000 is more than the"),
    ("calib.__main__", ["--threads", "100000"], "argument --threads: 100000 is more than the"),
    ("sensitivity.__main__", ["--threads", "100000"], "argument --threads: 100000 is more than the"),
]


@pytest.mark.parametrize("module, argv, message", CASES,
                         ids=[f"{c[0]}:{c[1][-2 if len(c[1]) > 1 else 0]}" for c in CASES])
def test_every_cli_validates_options_the_same_way(module, argv, message, tmp_path, capsys):
    main = importlib.import_module(module).main
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + message.replace("{tmp}", str(tmp_path))), err
    assert len(err.splitlines()) == 1


def _export_under_way(tmp_path):
    scratch, out = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "export", "--weights", str(FIXTURE_WEIGHTS), "--profile",
                                "fp32", "--imgsz", "64", "--out", str(out / "m.onnx")], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(scratch.glob("qyolo-export-*")):
        assert process.poll() is None and time.monotonic() < deadline, "the export ended before it could be killed"
        time.sleep(0.005)
    return process, scratch, out


def test_sigterm_removes_temporary_files_like_ctrl_c(tmp_path):
    """SIGTERM in the middle of an export: exit 143, one line, no temp folder or temp file left behind."""
    process, scratch, out = _export_under_way(tmp_path)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == ("terminated: temporary files removed; files already written are "
                                               "complete (writes are atomic)")
    assert "Traceback" not in stderr
    assert list(scratch.iterdir()) == []
    assert not out.exists() or [p.name for p in out.iterdir() if p.name.endswith((".tmp", ".probe"))] == []


def test_sighup_cleans_up_like_sigterm(tmp_path):
    process, scratch, out = _export_under_way(tmp_path)
    process.send_signal(signal.SIGHUP)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 129, stderr
    assert stderr.strip().splitlines()[-1].startswith("hung up: temporary files removed") and "Traceback" not in stderr
    assert list(scratch.iterdir()) == []


def test_a_second_interrupt_quits_in_one_line(tmp_path):
    """The first Ctrl-C starts the cleanup; one arriving during it ends the run at once, without a traceback."""
    code = ("import sys, os, signal, time\n"
            "from common.cli import run_cli\n"
            "def main(argv):\n"
            "    try:\n"
            "        os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
            "    finally:\n"
            "        os.kill(os.getpid(), signal.SIGINT); time.sleep(5)  # a cleanup interrupted in its turn\n"
            "sys.exit(run_cli(main))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["interrupted again: quitting without finishing the cleanup (leftover "
                                                "temporary files are removed by the next run)"]
