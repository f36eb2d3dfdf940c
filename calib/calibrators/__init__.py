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


def make_calibrator(method: str, desc: QuantDesc, name: str = "<unnamed>", **settings) -> Calibrator:
    """A calibrator for `method`, given those of the keyword `settings` its class declares (the rest are ignored,
    so one QuantConfig's num_bins/start_bin/percentile serve every method)."""
    if method not in CALIBRATORS:
        raise ValueError(f"unknown calibration method {method!r}; choose one of {sorted(CALIBRATORS)}")
    calibrator = CALIBRATORS[method]
    return calibrator(desc, name, **{key: settings[key] for key in calibrator.settings if key in settings})


__all__ = ["CALIBRATORS", "SYMMETRIC_ONLY", "CalibratedRange", "Calibrator", "EntropyCalibrator",
           "MinMaxCalibrator", "MseCalibrator", "PercentileCalibrator", "UnilateralHistogramCalibrator",
           "make_calibrator"]
