"""`python -m muba ...` is the same as `muba ...`."""

from muba.cli import main

main()
