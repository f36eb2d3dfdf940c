"""`make -n` dry runs: the pipeline targets chain calibrate -> export -> engine -> bench with the variables given,
and an engine is rebuilt exactly when its ONNX changes."""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_COMMAND = re.compile(r" -m (calib|export|engine|eval|bench|sensitivity|mixed|sweep)\b")
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def make_n(*args: str) -> list[str]:
    done = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # join recipe continuation lines, keep only the pipeline's commands (not the venv install step)
    text = done.stdout.replace("\\\n", " ")
    return [" ".join(line.split()) for line in text.splitlines() if PIPELINE_COMMAND.search(line)]


@pytest.fixture
def weights(tmp_path) -> str:
    path = tmp_path / "fixture.pt"
    path.write_bytes(b"weights")
    return str(path)


def _index(lines, needle):
    return next(i for i, line in enumerate(lines) if needle in line)


def test_calibrate_uses_the_variables(weights):
    lines = make_n("calibrate", f"WEIGHTS={weights}", "METHOD=percentile", "WBITS=6", "ABITS=6", "SCHEME=asym",
                   "IMGSZ=320", "CALIB_IMAGES=64", "DEVICE=cpu")
    (calib,) = [line for line in lines if "-m calib" in line]
    for part in (f"--weights {weights}", "--method percentile", "--scheme asym", "--w-bits 6", "--a-bits 6",
                 "--imgsz 320", "--num-images 64", "--device cpu", "--data data/synthetic/calib",
                 "--out runs/calib/fixture-320-n64/percentile-asym-w6a6.pt"):
        assert part in calib, (part, calib)


def test_calibration_settings_come_from_the_variables_not_the_file_name(weights):
    """The calibration rules are written from METHOD/WBITS/ABITS, so a file name that merely looks like settings
    is not a target: nothing parses names back into settings."""
    done = subprocess.run(["make", "-n", "runs/calib/fixture-256-n256/minmax-sym-w5a5.pt", f"WEIGHTS={weights}"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "No rule to make target" in done.stderr
    lines = make_n("runs/calib/fixture-256-n256/minmax-sym-w5a5.pt", f"WEIGHTS={weights}", "METHOD=minmax",
                   "WBITS=5", "ABITS=5")
    assert "--method minmax --scheme sym --w-bits 5 --a-bits 5" in lines[0]


def test_engine_chains_calibrate_export_build(weights):
    lines = make_n("engine", f"WEIGHTS={weights}", "BATCH=8", "DEVICE=cuda")
    calib, export, build = (_index(lines, needle) for needle in ("-m calib", "-m export", "-m engine build"))
    assert calib < export < build
    assert "--scheme sym" in lines[calib]  # PROFILE=trt implies the symmetric variant
    assert "--profile trt" in lines[export] and "--artifact runs/calib/fixture-256-n256/uh-sym-w8a8.pt" in lines[export]
    assert ("--onnx runs/export/fixture-256-n256/uh-sym-w8a8-trt.onnx --out "
            "runs/engines/fixture-256-n256-b8/uh-sym-w8a8-trt.engine --precision int8 --batch 8") in lines[build]


def test_bench_covers_cpu_backends_and_tensorrt_when_present(weights):
    lines = make_n("bench", f"WEIGHTS={weights}", "HAVE_TRT=yes", "DEVICE=cuda")
    evals = [line for line in lines if "-m eval --backend" in line]
    backends = sorted({line.split("--backend ")[1].split()[0] for line in evals})
    assert backends == ["openvino", "ort", "tensorrt"] and len(evals) == 9
    builds = [line for line in lines if "-m engine build" in line]
    assert len(builds) == 6 and any("--precision fp16" in line and "fp32.onnx" in line for line in builds)
    assert any("uh-sym-w4a4-trt.onnx" in line for line in builds)  # INT4-emulated engine
    assert any("-m bench trt" in line and "--batches opt" in line for line in lines)
    assert any("-m bench cpu" in line and "uh-asym-w8a8-cpu.onnx" in line and "--backends ort" in line
               for line in lines)
    # OpenVINO gets the cpu graph with Q/DQ only at the quantizers (fast there), ONNX Runtime the completed one
    assert any("--backend openvino" in line and "uh-asym-w8a8-cpuexact.onnx" in line for line in lines)
    assert any("--no-integer-ops" in line and "cpuexact.onnx" in line for line in lines)
    report = lines[-1]
    assert "-m bench report" in report and "latency-tensorrt.json" in report and "tensorrt-fp16.json" in report


def test_batch1_latency_comes_from_engines_built_for_batch1(weights):
    """TensorRT tunes kernels for the profile's opt batch: the batch-1 rows must time engines built for batch 1,
    each engine at the batch it was built for; the AP rows use the batch-BATCH engines."""
    lines = make_n("bench", f"WEIGHTS={weights}", "HAVE_TRT=yes", "DEVICE=cuda", "BATCH=16")
    builds = {line.split("--out ")[1].split()[0]: line for line in lines if "-m engine build" in line}
    for variant in ("fp16", "uh-sym-w8a8-trt", "uh-sym-w4a4-trt"):
        assert builds[f"runs/engines/fixture-256-n256-b1/{variant}.engine"].endswith("--batch 1")
        assert builds[f"runs/engines/fixture-256-n256-b16/{variant}.engine"].endswith("--batch 16")
    (bench,) = [line for line in lines if "-m bench trt" in line]
    timed = bench.split("-m bench trt ")[1].split(" --batches")[0].split()
    assert sorted(timed) == sorted(builds) and "--batches opt" in bench
    assert all("-b16/" in line for line in lines if "--backend tensorrt" in line)
    single = make_n("bench", f"WEIGHTS={weights}", "HAVE_TRT=yes", "DEVICE=cuda", "BATCH=1")
    assert sum("-m engine build" in line for line in single) == 3  # BATCH=1: one set of engines serves both


def test_bench_without_tensorrt_has_cpu_rows_only(weights):
    lines = make_n("bench", f"WEIGHTS={weights}", "HAVE_TRT=no")
    assert not any("--backend tensorrt" in line or "-m engine" in line or "latency-tensorrt" in line
                   for line in lines)
    assert sum("-m eval --backend" in line for line in lines) == 6
    assert "-m bench report" in lines[-1]


def test_engine_is_rebuilt_when_its_onnx_changes(tmp_path, weights):
    dirs = {name: tmp_path / name for name in ("calib", "export", "engines")}
    for d in dirs.values():
        d.mkdir()
    artifact, onnx, engine = (dirs["calib"] / "uh-sym-w8a8.pt", dirs["export"] / "uh-sym-w8a8-trt.onnx",
                              dirs["engines"] / "uh-sym-w8a8-trt.engine")
    now = time.time()
    for i, path in enumerate((artifact, onnx, engine)):  # oldest to newest: everything up to date
        path.write_bytes(b"x")
        os.utime(path, (now + i, now + i))
    os.utime(weights, (now - 10, now - 10))
    overrides = [f"WEIGHTS={weights}", f"CALIB_DIR={dirs['calib']}", f"EXPORT_DIR={dirs['export']}",
                 f"ENGINE_DIR={dirs['engines']}", "DATA_DEPS="]
    assert make_n("engine", *overrides) == []
    os.utime(onnx, (now + 10, now + 10))  # a re-exported ONNX
    lines = make_n("engine", *overrides)
    assert len(lines) == 1 and "-m engine build" in lines[0] and str(onnx) in lines[0]
    os.utime(artifact, (now + 20, now + 20))  # a new calibration: export and engine follow
    lines = make_n("engine", *overrides)
    assert ["-m export" in lines[0], "-m engine build" in lines[1]] == [True, True]


def test_ranges_draws_the_current_weights(weights):
    lines = make_n("ranges", f"WEIGHTS={weights}", "DEVICE=cpu", "IMGSZ=320")
    (line,) = [cmd for cmd in lines if "-m calib.plot" in cmd]
    for part in (f"--weights {weights}", "--data data/synthetic/calib", "--num-images 256", "--imgsz 320",
                 "--device cpu", "--out runs/ranges/fixture"):
        assert part in line, (part, line)


def test_table_runs_the_table1_sweep(weights):
    (line,) = [cmd for cmd in make_n("table", f"WEIGHTS={weights}", "DEVICE=cpu") if "-m sweep " in cmd]
    for part in (f"--weights {weights}", "--val-data data/synthetic/annotations/instances_val.json",
                 "--calib-data data/synthetic/calib", "--num-images 256", "--imgsz 256", "--out runs/sweep/fixture"):
        assert part in line, (part, line)


def test_mixed_chains_sensitivity_search_export_and_ort_eval(weights):
    lines = make_n("mixed", f"WEIGHTS={weights}", "DEVICE=cpu")
    sens, search, export, score = (_index(lines, needle) for needle in ("-m sensitivity", "-m mixed", "-m export",
                                                                         "-m eval"))
    assert sens < search < export < score
    for part in (f"--weights {weights}", "--scheme asym", "--w-bits 4 --a-bits 4", "--out runs/sensitivity/fixture",
                 "--ap-images 200"):
        assert part in lines[sens], (part, lines[sens])
    for part in ("--low-bits 4-4 --high-bits 8-8", "--ranking runs/sensitivity/fixture/sensitivity.json",
                 "--target-drop 3", "--max-share 0.25", "--ap-images 200", "--out runs/mixed/fixture"):
        assert part in lines[search], (part, lines[search])
    assert "--artifact runs/mixed/fixture/mixed.pt --profile cpu" in lines[export]
    assert "--backend ort --model runs/mixed/fixture/mixed-cpu.onnx" in lines[score]


def test_mixed_for_tensorrt_calibrates_symmetrically(weights):
    lines = make_n("mixed", f"WEIGHTS={weights}", "DEVICE=cpu", "MIXED_PROFILE=trt", "SENS_AP_IMAGES=")
    (sens,) = [line for line in lines if "-m sensitivity" in line]
    assert "--scheme sym" in sens and "--ap-images" not in sens
    assert any("--profile trt" in line for line in lines)


@pytest.mark.parametrize("args,message", [
    (["calibrate", "WEIGHTS=missing.pt"], "WEIGHTS=missing.pt does not exist; give a checkpoint file"),
    (["export", "PROFILE=tensorrt"], "PROFILE=tensorrt is not a profile; choose trt, cpu or fp32"),
    (["bench", "METHOD=kl"], "METHOD=kl is not a calibration method"),
    (["mixed", "MIXED_PROFILE=fp32"], "MIXED_PROFILE=fp32 is not a profile of a mixed graph"),
    (["calibrate", "DATA=nowhere"], "DATA=nowhere does not exist"),
    (["runs/calib/x.pt", "WEIGHTS=missing.pt"], "WEIGHTS=missing.pt does not exist"),
])
def test_bad_variables_are_one_line_before_any_rule(args, message):
    done = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "No rule to make target" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert message in line
