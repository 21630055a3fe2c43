"""What the benchmarks share: the machine's load, and timing two things alternately.

A busy machine slows whatever runs while it is busy. Timing all of A and then all of B
puts A and B in different weather; alternating them request by request (in a random
order within each pair) puts both in the same, so their ratio means something even
when their absolute times do not. Print the load next to every figure.
"""

import os
import random
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Load:
    """The 1/5/15-minute load averages and the CPU count, at one moment."""

    one: float
    five: float
    fifteen: float
    cpus: int

    def __str__(self) -> str:
        return f"{self.one:.2f} {self.five:.2f} {self.fifteen:.2f}"


def machine_load() -> Load:
    one, five, fifteen = os.getloadavg()
    return Load(one, five, fifteen, os.cpu_count() or 1)


def load_line(before: Load, after: Load) -> str:
    """One line for a report: the load averages before and after, and the CPU count."""
    return f"machine load (1/5/15 min) before {before}, after {after}; {after.cpus} CPUs"


@dataclass
class Timings:
    """The durations (seconds) of the calls that succeeded, how many failed, the last answer."""

    times: list[float] = field(default_factory=list)
    errors: int = 0
    last: object = None

    def extend(self, other: "Timings") -> None:
        self.times.extend(other.times)
        self.errors += other.errors

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000 if self.times else float("nan")

    @property
    def p95_ms(self) -> float:
        if len(self.times) < 2:
            return self.median_ms
        return statistics.quantiles(self.times, n=20, method="inclusive")[18] * 1000


def ratio(numerator: Timings, denominator: Timings) -> float:
    """The ratio of the medians (nan when either has no timing)."""
    if not numerator.times or not denominator.times:
        return float("nan")
    return statistics.median(numerator.times) / statistics.median(denominator.times)


def alternate(
    steps: dict[str, object],
    rounds: int,
    *,
    seed: int = 0,
    deadline: float | None = None,
    failures: tuple[type[BaseException], ...] = (),
) -> dict[str, Timings]:
    """Call every step once per round, in a random order each round, timing each call.

    A step returns a value; a falsy one, or one of ``failures`` raised, counts as an error and
    is not timed. Stops early once ``time.monotonic()`` passes ``deadline``.
    """
    order = list(steps)
    shuffle = random.Random(seed).shuffle
    timings = {name: Timings() for name in order}
    for _ in range(rounds):
        if deadline is not None and time.monotonic() > deadline:
            break
        shuffle(order)
        for name in order:
            started = time.perf_counter()
            try:
                answer = steps[name]()
            except failures:
                answer = None
            elapsed = time.perf_counter() - started
            if answer:
                timings[name].times.append(elapsed)
                timings[name].last = answer
            else:
                timings[name].errors += 1
    return timings
