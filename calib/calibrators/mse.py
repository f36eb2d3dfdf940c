"""MSE calibration on the |x| histogram, NVIDIA HistogramCalibrator semantics, vectorized over candidates."""
import torch

from calib.calibrators.abs_histogram import AbsHistogramCalibrator
from calib.calibrators.grid_error import symmetric_errors
from calib.quant_desc import QuantDesc


def mse_amax(counts: torch.Tensor, edges: torch.Tensor, num_bits: int, start_bin: int = 128) -> float:
    """Candidates amax = centre of bin i for i >= start_bin; score = mean over bins of counts * (fq(c) - c)^2
    with fq symmetric b-bit fake quantization; the first minimum wins (np.argmin, as NVIDIA)."""
    centres = (edges[1:] + edges[:-1]) / 2
    candidates = centres[start_bin:]
    if candidates.numel() == 0:
        raise ValueError(f"start_bin {start_bin} is beyond the histogram's {centres.numel()} bins")
    scores = symmetric_errors(candidates, centres, counts, num_bits) / centres.numel()
    return float(candidates[int(torch.argmin(scores))])


class MseCalibrator(AbsHistogramCalibrator):
    method = "mse"

    settings = ("num_bins", "start_bin")

    def __init__(self, desc: QuantDesc, name: str = "<unnamed>", num_bins: int = 2048, start_bin: int = 128):
        super().__init__(desc, name, num_bins)
        self.start_bin = start_bin

    def _search(self, counts: torch.Tensor, edges: torch.Tensor) -> float:
        return mse_amax(counts, edges, self.desc.num_bits, self.start_bin)

    def _settings(self) -> dict:
        return {**super()._settings(), "start_bin": self.start_bin}
