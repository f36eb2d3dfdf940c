"""The demo (`python -m tools.demo`, `make demo`): the pipeline end to end on the embedded fixture."""
