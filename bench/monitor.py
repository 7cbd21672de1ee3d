"""What the running stack costs: peak memory sampled every 0.5 s, and CPU seconds per process group.

Memory is summed over every process of the stack (web, worker, beat and sandbox with their
children, every PostgreSQL process, Redis) from /proc/<pid>/smaps_rollup via psutil:
PSS (each shared page split between the processes sharing it, so the sum counts it once; this
is the figure judged against the goal), RSS (shared pages counted in every process: an upper
bound) and USS (pages private to one process: a lower bound). The bench process (the load
generator) is not part of the stack and is not counted.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

Groups = Callable[[], dict[str, list[psutil.Process]]]


@dataclass
class MemoryPeak:
    pss: int = 0
    rss: int = 0
    uss: int = 0
    pss_by_group: dict[str, int] = field(default_factory=dict)
    processes: int = 0
    samples: int = 0


class MemorySampler:
    """Samples in a thread while the `with` block runs; `peak` holds the highest sums seen."""

    def __init__(self, groups: Groups, interval_s: float = 0.5):
        self.groups, self.interval_s = groups, interval_s
        self.peak = MemoryPeak()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        pss_by_group, rss, uss, count = {}, 0, 0, 0
        for group, processes in self.groups().items():
            pss_by_group[group] = 0
            for process in processes:
                try:
                    info = process.memory_full_info()
                except psutil.Error:  # it exited between listing and reading
                    continue
                pss_by_group[group] += info.pss
                rss, uss, count = rss + info.rss, uss + info.uss, count + 1
        peak = self.peak
        peak.samples += 1
        peak.rss, peak.uss = max(peak.rss, rss), max(peak.uss, uss)
        if sum(pss_by_group.values()) > peak.pss:
            peak.pss, peak.pss_by_group, peak.processes = sum(pss_by_group.values()), pss_by_group, count


@dataclass
class CpuSnapshot:
    per_process: dict[int, tuple[str, float]]  # pid: (group, CPU seconds so far)
    machine_busy: float  # user + nice + system of all CPUs
    interrupts: float  # irq + softirq (loopback networking lands here), no process's
    at: float


def cpu_snapshot(groups: Groups) -> CpuSnapshot:
    per_process = {}
    for group, processes in {**groups(), "bench (load generator)": [psutil.Process()]}.items():
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            # children_*: descendants already reaped (PostgreSQL backends that closed, for one).
            per_process[process.pid] = (group, times.user + times.system + times.children_user
                                        + times.children_system)
    machine = psutil.cpu_times()
    return CpuSnapshot(per_process, machine.user + machine.nice + machine.system, machine.irq + machine.softirq,
                       time.monotonic())


OTHERS = "other processes on this machine"


def cpu_by_group(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """CPU seconds each group used between two snapshots, plus interrupts and every other process."""
    used: dict[str, float] = {}
    for pid, (group, seconds) in after.per_process.items():
        earlier = before.per_process.get(pid)
        used[group] = used.get(group, 0.0) + seconds - (earlier[1] if earlier else 0.0)
    used[OTHERS] = max(0.0, after.machine_busy - before.machine_busy - sum(used.values()))
    used["interrupts (irq, softirq)"] = after.interrupts - before.interrupts
    return used


def others_share(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """The share of the machine's CPU time that processes outside the bench and its stack used."""
    capacity = (after.at - before.at) * psutil.cpu_count()
    return cpu_by_group(before, after)[OTHERS] / capacity if capacity else 0.0
