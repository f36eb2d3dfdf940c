"""`python -m engine`: see engine.cli."""
import sys

from common.cli import run_cli
from engine.cli import main

sys.exit(run_cli(main))
