"""Lab scripts: how the fixtures were trained and their reference outputs made, and one-off studies whose figures
the docs cite (fidelity table, activation sides, the bad-input probe). Run as `python -m scripts.<name>`; not part of
the pipeline, and nothing in the product imports them."""
