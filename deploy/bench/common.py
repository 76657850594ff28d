"""What every part of the benchmark shares: the issue's goals and the one way a run fails."""

GOAL_WORKERS_PER_S = 1000.0  # at full speed, N = 10,000
GOAL_CPU_MS_PER_WORKER = 2.0  # the machine's busy CPU time per worker, full speed
GOAL_P99_MS = 150.0  # end to end, at the steady offered load (50 workers/s)
GOAL_STEADY_BUSY = 0.25  # the machine's share busy at the steady offered load
GOAL_RSS_MB = 120.0  # peak, each process of the stack

# The notification that ends a worker's way through (audience worker, on notification-sent).
TEMPLATE = "enrollment_confirmed"


class BenchFailure(Exception):
    """The run could not complete; the message says why."""
