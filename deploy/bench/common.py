"""What every part of the benchmark shares: the issue's goals and the one way a run fails."""

GOAL_WORKERS_PER_S = 500.0  # 10,000 workers in <= 20 s
GOAL_P99_MS = 300.0  # end to end, at the steady offered load
GOAL_SHARE = 0.30  # of the raw limit
GOAL_RSS_MB = 120.0  # peak, each process of the stack

# The notification that ends a worker's way through (audience worker, on notification-sent).
TEMPLATE = "enrollment_confirmed"


class BenchFailure(Exception):
    """The run could not complete; the message says why."""
