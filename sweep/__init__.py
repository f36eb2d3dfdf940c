"""The Table-1 sweep: calibration methods x bit widths on one checkpoint, scored with COCO AP (`python -m sweep`)."""
from sweep.config import SweepConfig
from sweep.run import run_sweep

__all__ = ["SweepConfig", "run_sweep"]
