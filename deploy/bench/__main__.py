import sys

from deploy.bench.cli import main

if __name__ == "__main__":  # not again in the raw Kafka measurement's spawned processes
    sys.exit(main())
