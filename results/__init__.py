"""The results pages of docs/results/, generated from the runs' recorded JSON (`python -m results`, `make results`)."""
