"""How long the steps of a run took, for the `timings` its report records. Bookkeeping, not a benchmark: speed is
measured by bench/, which repeats, interleaves and summarises."""
import time
from contextlib import contextmanager
from typing import Iterator


class StepTimes:
    """Seconds per named step of one run, and the run's total since the object was made.

        times = StepTimes()
        with times.step("calibration_s"):
            ...
        report["timings"] = times.record()   # {"calibration_s": 59.12, "total_s": 61.0}
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block under `name` (a step run twice adds up); recorded even when the block raises."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        """Record a step measured elsewhere (e.g. a calibration pass's own figures)."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def total(self) -> float:
        return time.perf_counter() - self.started

    def record(self, digits: int = 2) -> dict[str, float]:
        """Every step and `total_s`, rounded, in the order the steps were first recorded."""
        return {**{name: round(value, digits) for name, value in self.seconds.items()},
                "total_s": round(self.total(), digits)}
