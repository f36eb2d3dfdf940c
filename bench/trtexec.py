"""trtexec as a second opinion on latency: run it on the same engine and read its GPU Compute Time median.

Flags: --loadEngine, --shapes, --warmUp (ms), --iterations in both generations. The timing mode differs:
- TensorRT 10: CUDA graphs and skipped host transfers are opt-in (--useCudaGraph, --noDataTransfers);
- TensorRT 11: both are the default and those two flags are deprecated no-ops; --noCudaGraph turns graphs off.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

from common.log import get_logger

_WELL_KNOWN = ("/usr/src/tensorrt/bin/trtexec", "/opt/tensorrt/bin/trtexec", "/usr/local/tensorrt/bin/trtexec")
_NUMBER = r"([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
_STAT_LINE = re.compile(r"(?P<label>[A-Za-z][A-Za-z0-9 /]*?):\s*min = " + _NUMBER + r" ms, max = " + _NUMBER
                        + r" ms, mean = " + _NUMBER + r" ms, median = " + _NUMBER + r" ms(?P<rest>.*)")
_PERCENTILE = re.compile(r"percentile\((?P<p>[0-9.]+)%\) = " + _NUMBER + " ms")
_THROUGHPUT = re.compile(r"Throughput:\s*" + _NUMBER + r"\s*qps")


def find_trtexec() -> str | None:
    found = shutil.which("trtexec")
    if found:
        return found
    return next((path for path in _WELL_KNOWN if os.access(path, os.X_OK)), None)


def trtexec_command(trtexec: str, engine: Path, input_name: str, shape: tuple | None, iterations: int = 300,
                    warmup_ms: int = 500, cuda_graph: bool = True, tensorrt_major: int = 10) -> list[str]:
    """The command timing `engine` like our CUDA-event timing: GPU compute only, with or without a CUDA graph."""
    cmd = [trtexec, f"--loadEngine={engine}", f"--warmUp={warmup_ms}", f"--iterations={iterations}"]
    if shape is not None:  # only for dynamic inputs; a static engine rejects --shapes
        cmd.append(f"--shapes={input_name}:{'x'.join(str(int(d)) for d in shape)}")
    if tensorrt_major >= 11:
        cmd += [] if cuda_graph else ["--noCudaGraph"]
    else:
        cmd += ["--noDataTransfers"] + (["--useCudaGraph"] if cuda_graph else [])
    return cmd


def parse_trtexec_output(text: str) -> dict:
    """{'gpu_compute': {min, max, mean, median, p90, p99 ...}, 'latency': {...}, 'throughput_qps': x} from its log."""
    result: dict = {}
    for line in text.splitlines():
        stat = _STAT_LINE.search(line)
        if stat:
            key = stat.group("label").strip().lower().replace(" ", "_")
            values = dict(zip(("min_ms", "max_ms", "mean_ms", "median_ms"), map(float, stat.groups()[1:5])))
            for p, v in _PERCENTILE.findall(stat.group("rest")):
                values[f"p{p.rstrip('0').rstrip('.') if '.' in p else p}_ms"] = float(v)
            result[key] = values
            continue
        throughput = _THROUGHPUT.search(line)
        if throughput:
            result["throughput_qps"] = float(throughput.group(1))
    return result


def run_trtexec(engine: Path, input_name: str, shape: tuple | None, iterations: int = 300,
                cuda_graph: bool = True, tensorrt_major: int = 10, timeout_s: int = 600) -> dict | None:
    """trtexec's numbers for `engine`, or None (with a logged reason) where trtexec is absent or fails."""
    trtexec = find_trtexec()
    if trtexec is None:
        get_logger().info("trtexec not found: its column stays empty")
        return None
    cmd = trtexec_command(trtexec, engine, input_name, shape, iterations, cuda_graph=cuda_graph,
                          tensorrt_major=tensorrt_major)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        get_logger().warning(f"trtexec timed out after {timeout_s} s on {engine}")
        return None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        get_logger().warning(f"trtexec failed on {engine} (exit {done.returncode}):\n{tail}")
        return None
    parsed = parse_trtexec_output(done.stdout)
    compute = parsed.get("gpu_compute_time")
    if compute is None:
        get_logger().warning(f"could not find 'GPU Compute Time' in trtexec's output for {engine}")
        return None
    return {"median_ms": compute["median_ms"], "p99_ms": compute.get("p99_ms"),
            "throughput_qps": parsed.get("throughput_qps"), "command": " ".join(cmd)}
