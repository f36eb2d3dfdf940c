"""Benchmarking: CPU and TensorRT latency, the per-operator profile, the runtimes' own quantizers as anchors, the
benchmark models and the AP + latency report. It sits at the top of the import graph: it uses the stages, no stage
uses it."""
