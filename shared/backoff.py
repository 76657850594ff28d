"""One backoff for every retry loop of ours (consumers, the outbox relay, provisioning, delivery)."""

import random
from collections.abc import Callable


class Backoff:
    """Exponential, with equal jitter (each delay is between half and all of the step), starting
    again from `base` after `reset()` (called after progress)."""

    def __init__(self, base: float = 0.2, cap: float = 5.0, rng: Callable[[], float] = random.random) -> None:
        self.base = base
        self.cap = cap
        self.rng = rng
        self.failures = 0

    def next(self) -> float:
        step = min(self.cap, self.base * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return step / 2 + self.rng() * step / 2

    def reset(self) -> None:
        self.failures = 0
