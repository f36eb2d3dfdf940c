"""common.timing.StepTimes: steps add up, failed steps are still recorded, the record is rounded and totalled."""
import pytest

from common import timing
from common.timing import StepTimes


@pytest.fixture
def clock(monkeypatch):
    """A perf_counter that moves only when the test says so."""
    now = {"t": 100.0}
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now["t"])
    return now


def test_steps_add_up_and_the_total_runs_from_the_start(clock):
    times = StepTimes()
    with times.step("a_s"):
        clock["t"] += 1.25
    clock["t"] += 10.0  # between steps: in the total, in no step
    with times.step("a_s"):
        clock["t"] += 0.5
    times.add("b_s", 2.0)
    assert times.seconds == {"a_s": 1.75, "b_s": 2.0}
    assert times.record() == {"a_s": 1.75, "b_s": 2.0, "total_s": 11.75}


def test_a_step_that_raises_is_recorded(clock):
    times = StepTimes()
    with pytest.raises(ValueError), times.step("failed_s"):
        clock["t"] += 3.0
        raise ValueError("boom")
    assert times.seconds == {"failed_s": 3.0}


def test_record_rounds(clock):
    times = StepTimes()
    times.add("x_s", 1.23456)
    assert times.record(digits=1) == {"x_s": 1.2, "total_s": 0.0}
