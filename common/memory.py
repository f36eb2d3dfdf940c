"""How much memory this process may still take, and a refusal before an allocation that cannot fit.

Available = the kernel's MemAvailable, lowered by a cgroup (container) limit where one is set. Estimates are
compared with it before the work, so an impossible size is one line instead of a multi-GB allocation traceback
or the OOM killer.
"""
from pathlib import Path

from common.errors import QYoloError

GIB = 2 ** 30


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """Bytes left under the cgroup v2 (memory.max) or v1 (memory.limit_in_bytes) limit; None without a limit."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit == "max" or int(limit) >= 2 ** 60:
                return None
            return max(0, int(limit) - int(Path(usage_file).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_bytes() -> int | None:
    """Memory this process can still allocate, or None where the system does not say (then nothing is refused)."""
    known = [value for value in (_meminfo_available(), _cgroup_room()) if value is not None]
    return min(known) if known else None


def check_fits(need: float, what: str, fix: str) -> None:
    """Refuse when `need` bytes exceed what is available: "<what> needs about X GiB ...; <fix>"."""
    room = available_bytes()
    if room is not None and need > room:
        raise QYoloError(f"{what} needs about {need / GIB:,.1f} GiB of memory, but {room / GIB:,.1f} GiB are "
                         f"available on this machine; {fix}")
