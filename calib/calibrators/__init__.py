"""Calibrators: each collects statistics (`collect`), forgets them (`reset`) and picks a range (`compute_amax`)."""
from calib.calibrators.base import CalibratedRange, Calibrator
from calib.calibrators.entropy import EntropyCalibrator
from calib.calibrators.minmax import MinMaxCalibrator
from calib.calibrators.mse import MseCalibrator
from calib.calibrators.percentile import PercentileCalibrator
from calib.calibrators.uh import UnilateralHistogramCalibrator
from calib.quant_desc import QuantDesc

CALIBRATORS: dict[str, type[Calibrator]] = {
    "minmax": MinMaxCalibrator,
    "percentile": PercentileCalibrator,
    "mse": MseCalibrator,
    "entropy": EntropyCalibrator,
    "uh": UnilateralHistogramCalibrator,
}
# Methods that fold |x| and therefore only define a symmetric range.
SYMMETRIC_ONLY = frozenset({"percentile", "mse", "entropy"})


def make_calibrator(method: str, desc: QuantDesc, name: str = "<unnamed>", *, num_bins: int = 2048,
                    start_bin: int = 128, percentile: float = 99.99) -> Calibrator:
    """A calibrator for `method`, taking from the keyword settings only those the method uses."""
    if method not in CALIBRATORS:
        raise ValueError(f"unknown calibration method {method!r}; choose one of {sorted(CALIBRATORS)}")
    if method == "minmax":
        return MinMaxCalibrator(desc, name)
    if method == "percentile":
        return PercentileCalibrator(desc, name, num_bins=num_bins, percentile=percentile)
    return CALIBRATORS[method](desc, name, num_bins=num_bins, start_bin=start_bin)


__all__ = ["CALIBRATORS", "SYMMETRIC_ONLY", "CalibratedRange", "Calibrator", "EntropyCalibrator",
           "MinMaxCalibrator", "MseCalibrator", "PercentileCalibrator", "UnilateralHistogramCalibrator",
           "make_calibrator"]
