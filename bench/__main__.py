"""`python -m bench`: see bench.cli."""
import sys

from bench.cli import main
from common.cli import run_cli

sys.exit(run_cli(main))
