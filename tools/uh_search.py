"""Benchmark: the vectorized UH search for one layer against a straightforward per-candidate Python loop.

Builds one layer's non-negative histogram (2048+ bins, grown over several batches) from SiLU of a heavy-tailed
sample, times the searches on it (median of several runs, ms; the nested pure-Python loop once), checks that
all pick the same bin and writes runs/bench/uh_search.json atomically.
Run: `python -m tools.uh_search [--values 1000000] [--bits 8 4] [--threads 1]`.
"""
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from bench.latency import cpu_name
from calib.calibrators.uh import UnilateralHistogramCalibrator, uh_asymmetric_search
from calib.quant_desc import QuantDesc
from common.atomic import write_json_atomic
from common.cli import CliParser, run_cli

OUTPUT = Path("runs/bench/uh_search.json")


def silu_histogram(n_values: int, n_batches: int, seed: int) -> UnilateralHistogramCalibrator:
    """SiLU of a Laplace sample (exponential tails: a long positive tail after SiLU, a mass in [-0.28, 0]), fed
    in batches; a batch with a larger maximum appends bins, so the histogram ends with a little over 2048 bins."""
    generator = torch.Generator().manual_seed(seed)
    calibrator = UnilateralHistogramCalibrator(QuantDesc(num_bits=8, symmetric=False), "bench.layer")
    per_batch = n_values // n_batches
    for _ in range(n_batches):
        uniform = torch.rand(per_batch, generator=generator, dtype=torch.float64) - 0.5
        laplace = -torch.sign(uniform) * torch.log1p(-2 * uniform.abs()) * 1.5 - 0.5
        calibrator.collect(torch.nn.functional.silu(laplace.float()))
    return calibrator


def loop_search(counts: torch.Tensor, width: float, lower: float, num_bits: int, start_bin: int) -> int:
    """The reference: one candidate at a time, as the authors' code does (vectorized over bins only)."""
    counts = counts.double()
    centres = (torch.arange(counts.numel(), dtype=torch.float64) + 0.5) * width
    total = counts.sum()
    qmax = 2 ** num_bits - 1
    best_score, best_bin = float("inf"), -1
    for index in range(start_bin, counts.numel()):
        step = (float(centres[index]) - lower) / qmax
        zero_point = min(max(round(-lower / step), 0), qmax)
        quantized = (torch.clamp(torch.round(centres / step) + zero_point, 0, qmax) - zero_point) * step
        score = float(((quantized - centres) ** 2 * counts).sum() / total)
        if score < best_score:
            best_score, best_bin = score, index
    return best_bin


def pure_python_search(counts: torch.Tensor, width: float, lower: float, num_bits: int, start_bin: int) -> int:
    """The same search with no tensor library at all: two nested Python loops (candidates x bins)."""
    counts = counts.tolist()
    centres = [(j + 0.5) * width for j in range(len(counts))]
    total, qmax = sum(counts), 2 ** num_bits - 1
    best_score, best_bin = float("inf"), -1
    for index in range(start_bin, len(counts)):
        step = (centres[index] - lower) / qmax
        zero_point = min(max(round(-lower / step), 0), qmax)
        error = 0.0
        for count, centre in zip(counts, centres):
            if count:
                level = min(max(round(centre / step) + zero_point, 0), qmax)
                error += count * ((level - zero_point) * step - centre) ** 2
        if error / total < best_score:
            best_score, best_bin = error / total, index
    return best_bin


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = CliParser(prog="python -m tools.uh_search", description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=1_000_000, help="number of activation values")
    parser.add_argument("--batches", type=int, default=4, help="collected in this many batches (growing max)")
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 4])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of the vectorized search")
    parser.add_argument("--loop-repeats", type=int, default=3, help="timed runs of the loop")
    parser.add_argument("--skip-pure-python", action="store_true", help="skip the slow nested-loop reference")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: fair on a shared machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    calibrator = silu_histogram(args.values, args.batches, args.seed)
    counts, width = calibrator.positive.counts, calibrator.positive.width
    lower, start_bin = calibrator.running_min, calibrator.start_bin
    rows = []
    for bits in args.bits:
        vector_bin, _ = uh_asymmetric_search(counts, width, lower, bits, start_bin)
        loop_bin = loop_search(counts, width, lower, bits, start_bin)
        vector_ms = median_ms(lambda b=bits: uh_asymmetric_search(counts, width, lower, b, start_bin), args.repeats)
        loop_ms = median_ms(lambda b=bits: loop_search(counts, width, lower, b, start_bin), args.loop_repeats)
        row = {"bits": bits, "bins": counts.numel(), "candidates": counts.numel() - start_bin,
               "vectorized_ms": round(vector_ms, 2), "loop_ms": round(loop_ms, 1),
               "speedup": round(loop_ms / vector_ms, 1), "vectorized_bin": vector_bin, "loop_bin": loop_bin,
               "same_bin": vector_bin == loop_bin, "amax": (vector_bin + 0.5) * width, "amin": lower}
        if not args.skip_pure_python:
            start = time.perf_counter()
            pure_bin = pure_python_search(counts, width, lower, bits, start_bin)
            pure_ms = (time.perf_counter() - start) * 1000.0
            row.update(pure_python_ms=round(pure_ms, 0), pure_python_speedup=round(pure_ms / vector_ms, 0),
                       same_bin=row["same_bin"] and pure_bin == vector_bin)
        rows.append(row)

    print(f"UH search, one layer: {args.values} SiLU values, {counts.numel()} bins, {args.threads} thread(s)")
    print("  loop = one candidate at a time, torch over the bins; pure Python = nested loops, no torch")
    print(f"{'bits':>4} {'candidates':>10} {'vectorized ms':>14} {'loop ms':>9} {'speed-up':>9} "
          f"{'pure Python ms':>15} {'speed-up':>9} {'same bin':>9} {'amax':>8}")
    for row in rows:
        pure = (f"{row['pure_python_ms']:>15.0f} {row['pure_python_speedup']:>8.0f}x" if "pure_python_ms" in row
                else f"{'-':>15} {'-':>9}")
        print(f"{row['bits']:>4} {row['candidates']:>10} {row['vectorized_ms']:>14.2f} {row['loop_ms']:>9.1f} "
              f"{row['speedup']:>8.1f}x {pure} {str(row['same_bin']):>9} {row['amax']:>8.4f}")
    report = {"benchmark": "uh_search", "values": args.values, "batches": args.batches, "threads": args.threads,
              "torch": torch.__version__, "machine": platform.machine(), "cpu": cpu_name(),
              "target_ms": 50.0, "rows": rows}
    write_json_atomic(args.output, report)
    print(f"wrote {args.output}")
    if not all(row["same_bin"] for row in rows):
        print("MISMATCH: the vectorized search and the loop picked different bins:",
              json.dumps([r for r in rows if not r["same_bin"]]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
