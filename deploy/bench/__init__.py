"""`make bench`: throughput and latency of the whole pipeline on the real Kafka and PostgreSQL,
set against a minimal program doing the same durable work on the same machine in the same run.

    python -m deploy.bench [--workers N] [--rate R] [--steady-seconds S] [--timeout T] [--strict]

In order:
1. applies the migrations and empties the three service schemas (each as its own role), takes a
   fresh TOPIC_PREFIX and creates the run's topics;
2. starts the services and the BPJS simulator (zero delay) as processes (deploy/stack.py) and
   samples each process's RSS and CPU time every 0.5 s (psutil);
3. one whole-regency commitment with a slot for every worker (income floor, so every worker
   costs the same), then a warm-up of a few workers so every consumer group holds its partitions;
4. full speed: N registrations published as fast as one partner producer can, until every
   worker's enrollment_confirmed notification (audience worker) is on notification-sent;
5. steady: R registrations per second for S seconds, likewise;
6. stops the stack, reads the run's topics back and follows each worker through them
   (submission_id -> worker_id from the registry's worker-registered event): end-to-end and
   per-stage latencies from the Kafka record timestamps;
7. the limit (limits.py): a minimal program doing the run's durable work the best way, twice:
   the same Kafka records produced (acks=all, idempotent) and consumed, and the rows the pipeline
   keeps written with COPY, a consumer batch of workers per transaction, all at once;
8. writes bench/results/<UTC time>-<commit>.json and .png beside it and prints a table.

Exit status: 0 when the run completed (goals met or not; --strict: 2 when a goal is missed),
1 when it could not complete (the reason is printed).
"""

# The docstring above is also `--help`. The package, by concern:
#   workload.py  what is generated and published (registrations, the commitment, the partners)
#   sampling.py  CPU/RSS of the processes, records per topic, completions followed live, /stats
#   pipeline.py  one run of the stack: setup, warm-up, the full-speed and steady phases, isolation
#   tracing.py   each worker followed through the run's topics: per-stage and end-to-end latencies
#   limits.py    the limit program (the same durable work, done the best way) and the share of it
#   scale.py     make bench-scale: the cost per worker from 10,000 to 1,000,000 workers
#   report.py    the JSON result and the printed table;  chart.py  the PNG beside it
#   cli.py       the options and the order of it all;  settings.py  what is read from the environment
