# Q-YOLO pipeline. `make demo` and `make test` work on any machine with python3; the GPU targets run inside
# the project's Docker image (see README.md).
SHELL := /bin/bash
PYTHON_BOOT ?= python3
VENV ?= .venv
PY ?= $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
TORCH := torch==2.13.0

.PHONY: install demo test test-fast lint lock docker-check gpu-check results

# The venv is made once; torch is installed only when not importable (the Docker image brings its own torch).
# Everything is installed at the versions constraints.txt locks (refresh it with `make lock`).
$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -c constraints.txt -r requirements.txt -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	$(PY) -m pip install -q -r requirements-bench.txt
	@touch $(BENCH_STAMP)

demo: $(STAMP)
	$(PY) -m tools.demo

# The full suite, with the slowest tests listed at the end; test-fast skips the ones marked slow.
test: $(STAMP)
	$(PY) -m pytest -q --durations=15

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" --durations=10

lint: $(STAMP)
	$(PY) -m ruff check .

# docs/results/ (every page, its plot, the index) and README.md's results block, rendered from the runs recorded in
# docs/results/data/ (`python -m results record <page>` after the run; see docs/development.md).
results: $(STAMP)
	$(PY) -m results render

# Re-resolve the requirements without the locks and rewrite both: constraints.txt from what a scratch venv installs
# (its comment header kept), and the GPU image's docker/constraints-image.txt from pip's resolution for the image's
# Python and numpy (docker/image_deps.py lock). Run `make test` and `make docker-check` before committing them.
LOCK_VENV := .lock-venv
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON_BOOT) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q $(TORCH)
	$(LOCK_VENV)/bin/pip install -q -r requirements.txt -r requirements-dev.txt
	{ grep '^#' constraints.txt; $(LOCK_VENV)/bin/pip freeze --exclude torch; echo '$(TORCH)'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	$(LOCK_VENV)/bin/python docker/image_deps.py lock
	rm -rf $(LOCK_VENV)

# The GPU image's install step (docker/image_deps.py, which the Dockerfile runs) resolved by pip for the image's
# Python, glibc and numpy (docker/base-image.json), without Docker: fails when the image would not build, or when
# its lock no longer matches the requirements. Needs the package index; DOCKER_CHECK_FLAGS=--skip-if-offline
# turns an unreachable index into a skip message (CI).
docker-check: | $(STAMP)
	$(PY) docker/image_deps.py check $(DOCKER_CHECK_FLAGS)

# ---------------------------------------------------------------------------------------------------------------
# Pipeline: calibrate -> export -> engine -> bench, chained by file targets (a stage reruns when its input file
# changes). Defaults run on the embedded fixture and the synthetic data; for COCO inside the Docker image see
# docs/gpu-workflow.md, e.g. `make bench WEIGHTS=weights/yolov5s.pt DATA=data/coco IMGSZ=640 CALIB_IMAGES=1500`.
# ---------------------------------------------------------------------------------------------------------------
WEIGHTS ?= yolo/assets/fixture.pt
DATA ?= data/synthetic
METHOD ?= uh
WBITS ?= 8
ABITS ?= 8
PROFILE ?= trt
MIXED_PROFILE ?= cpu
SCHEME ?= $(if $(filter trt,$(PROFILE)),sym,asym)
BATCH ?= 32
IMGSZ ?= 256
CALIB_IMAGES ?= 256
ifeq ($(origin DEVICE),undefined)
DEVICE := $(if $(shell nvidia-smi -L 2>/dev/null),cuda,cpu)
endif

# Dataset layout: COCO (train2017/ + annotations/instances_val2017.json) or the synthetic one (calib/ + val).
CALIB_SOURCE ?= $(if $(wildcard $(DATA)/train2017),$(DATA)/train2017,$(DATA)/calib)
VAL_ANN ?= $(if $(wildcard $(DATA)/annotations/instances_val2017.json),$(DATA)/annotations/instances_val2017.json,$(DATA)/annotations/instances_val.json)
# The synthetic data is generated on first use; other datasets must already be there.
DATA_DEPS := $(if $(filter data/synthetic,$(DATA)),data/synthetic/annotations/instances_calib.json data/synthetic/annotations/instances_val.json)

# TensorRT rows only where the tensorrt module and an NVIDIA GPU are present (override: HAVE_TRT=yes|no).
ifeq ($(origin HAVE_TRT),undefined)
HAVE_TRT := $(shell $(PY) -c "import tensorrt" >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
endif

# STEM=int8 quantizes the first conv (on the image) too: OpenVINO then runs it in int8; its own folders.
STEM ?= float
STEM_TAG = $(if $(filter int8,$(STEM)),-int8stem)
# File names, one convention for every artifact: <method>-<scheme>-w<W>a<A>[-<profile>]. The names are labels only:
# what a file holds is read from its metadata and sidecar, never parsed back out of the name.
MODEL := $(basename $(notdir $(WEIGHTS)))
TAG = $(METHOD)-$(SCHEME)-w$(WBITS)a$(ABITS)
CALIB_DIR = runs/calib/$(MODEL)-$(IMGSZ)-n$(CALIB_IMAGES)$(STEM_TAG)
EXPORT_DIR = runs/export/$(MODEL)-$(IMGSZ)-n$(CALIB_IMAGES)$(STEM_TAG)
ENGINE_DIR = runs/engines/$(MODEL)-$(IMGSZ)-n$(CALIB_IMAGES)$(STEM_TAG)-b$(BATCH)
# TensorRT tunes an engine's kernels for its profile's opt batch: the batch-1 latency rows come from engines built
# for batch 1, not from the batch-$(BATCH) ones (which the AP rows and the batch-$(BATCH) latency use).
B1_ENGINE_DIR = runs/engines/$(MODEL)-$(IMGSZ)-n$(CALIB_IMAGES)$(STEM_TAG)-b1
BENCH_DIR = runs/bench/$(MODEL)-$(IMGSZ)-n$(CALIB_IMAGES)$(STEM_TAG)

# The variables a pipeline goal reads, checked before make looks for rules: a missing WEIGHTS file or an unknown
# PROFILE is one line naming it, not make's "No rule to make target".
PIPELINE_GOALS := calibrate export engine bench bench-anchors-ap table sensitivity mixed ranges
ifneq ($(filter $(PIPELINE_GOALS) runs/%,$(MAKECMDGOALS)),)
ifeq ($(wildcard $(WEIGHTS)),)
$(error WEIGHTS=$(WEIGHTS) does not exist; give a checkpoint file, e.g. make $(firstword $(MAKECMDGOALS)) WEIGHTS=weights/yolov5s.pt)
endif
ifneq ($(words $(WEIGHTS)),1)
$(error WEIGHTS="$(WEIGHTS)" names $(words $(WEIGHTS)) files; give one checkpoint (a path without spaces))
endif
ifeq ($(filter trt cpu fp32,$(PROFILE)),)
$(error PROFILE=$(PROFILE) is not a profile; choose trt, cpu or fp32)
endif
ifeq ($(filter trt cpu,$(MIXED_PROFILE)),)
$(error MIXED_PROFILE=$(MIXED_PROFILE) is not a profile of a mixed graph; choose cpu or trt)
endif
ifeq ($(filter minmax percentile mse entropy uh,$(METHOD)),)
$(error METHOD=$(METHOD) is not a calibration method; choose uh, minmax, percentile, mse or entropy)
endif
ifeq ($(filter float int8,$(STEM)),)
$(error STEM=$(STEM) is not float or int8)
endif
ifeq ($(filter data/synthetic,$(DATA))$(wildcard $(DATA)),)
$(error DATA=$(DATA) does not exist; give a dataset folder (COCO layout) or leave DATA unset for the synthetic data)
endif
endif

CALIB_ARTIFACT = $(CALIB_DIR)/$(TAG).pt
ONNX = $(EXPORT_DIR)/$(TAG)-$(PROFILE).onnx
# TensorRT runs symmetric int8 only: the engine always comes from the symmetric calibration.
ENGINE = $(ENGINE_DIR)/$(METHOD)-sym-w$(WBITS)a$(ABITS)-trt.engine

.PHONY: calibrate export engine bench bench-cpu-speed bench-cpu-anchors bench-anchors-ap table ranges docker-build \
	docker-shell
# Calibrated artifacts, ONNX files and engines are intermediate files of the chains below: keep them.
.SECONDARY:

calibrate: $(CALIB_ARTIFACT)
export: $(ONNX)
engine: $(ENGINE)

data/synthetic/annotations/instances_%.json: | $(STAMP)
	$(PY) -c "from yolo.synthetic import ensure_split; ensure_split('$*')"

# One calibration rule per (scheme, weight bits, activation bits) the targets use, written from the settings.
CALIB_SETTINGS = $(foreach scheme,sym asym,$(foreach bits,$(sort $(WBITS):$(ABITS) 8:8 4:4),$(scheme):$(bits)))
define CALIB_RULE
$(CALIB_DIR)/$(METHOD)-$(1)-w$(2)a$(3).pt: $$(WEIGHTS) $$(DATA_DEPS) | $$(STAMP)
	$$(PY) -m calib --weights $$(WEIGHTS) --data $$(CALIB_SOURCE) --num-images $$(CALIB_IMAGES) --imgsz $$(IMGSZ) \
		--method $(METHOD) --scheme $(1) --w-bits $(2) --a-bits $(3) --device $$(DEVICE) --out $$@ \
		$$(if $$(filter int8,$$(STEM)),--quantize-first-conv)
endef
$(foreach s,$(CALIB_SETTINGS),$(eval $(call CALIB_RULE,$(word 1,$(subst :, ,$(s))),$(word 2,$(subst :, ,$(s))),$(word 3,$(subst :, ,$(s))))))

$(EXPORT_DIR)/fp32.onnx: $(WEIGHTS) | $(STAMP)
	$(PY) -m export --weights $(WEIGHTS) --profile fp32 --imgsz $(IMGSZ) --dynamic-batch --out $@

$(EXPORT_DIR)/%-trt.onnx: $(CALIB_DIR)/%.pt | $(STAMP)
	$(PY) -m export --artifact $< --profile trt --imgsz $(IMGSZ) --dynamic-batch --out $@

$(EXPORT_DIR)/%-cpu.onnx: $(CALIB_DIR)/%.pt | $(STAMP)
	$(PY) -m export --artifact $< --profile cpu --imgsz $(IMGSZ) --dynamic-batch --out $@

# Q/DQ only at the calibrated quantizers: the `cpu` graph OpenVINO runs fast (ONNX Runtime wants the one above).
$(EXPORT_DIR)/%-cpuexact.onnx: $(CALIB_DIR)/%.pt | $(STAMP)
	$(PY) -m export --artifact $< --profile cpu --no-integer-ops --imgsz $(IMGSZ) --dynamic-batch --out $@

$(ENGINE_DIR)/%-trt.engine: $(EXPORT_DIR)/%-trt.onnx | $(STAMP)
	$(PY) -m engine build --onnx $< --out $@ --precision int8 --batch $(BATCH)

$(ENGINE_DIR)/fp16.engine: $(EXPORT_DIR)/fp32.onnx | $(STAMP)
	$(PY) -m engine build --onnx $< --out $@ --precision fp16 --batch $(BATCH)

ifneq ($(BATCH),1)
$(B1_ENGINE_DIR)/%-trt.engine: $(EXPORT_DIR)/%-trt.onnx | $(STAMP)
	$(PY) -m engine build --onnx $< --out $@ --precision int8 --batch 1

$(B1_ENGINE_DIR)/fp16.engine: $(EXPORT_DIR)/fp32.onnx | $(STAMP)
	$(PY) -m engine build --onnx $< --out $@ --precision fp16 --batch 1
endif

# bench: FP32 / INT8 / INT4-emulated on ONNX Runtime and OpenVINO (CPU, `cpu` profile), and FP16 / INT8 /
# INT4-emulated TensorRT engines (`trt` profile) where TensorRT is present; AP + latency report at the end.
ORT_MODELS = $(foreach v,fp32 $(METHOD)-asym-w8a8-cpu $(METHOD)-asym-w4a4-cpu,$(EXPORT_DIR)/$(v).onnx)
OPENVINO_MODELS = $(foreach v,fp32 $(METHOD)-asym-w8a8-cpuexact $(METHOD)-asym-w4a4-cpuexact,$(EXPORT_DIR)/$(v).onnx)
TRT_ENGINES = $(foreach v,fp16 $(METHOD)-sym-w8a8-trt $(METHOD)-sym-w4a4-trt,$(ENGINE_DIR)/$(v).engine)
TRT_ENGINES_B1 = $(patsubst $(ENGINE_DIR)/%,$(B1_ENGINE_DIR)/%,$(TRT_ENGINES))
CPU_METRICS = $(patsubst $(EXPORT_DIR)/%.onnx,$(BENCH_DIR)/metrics/ort-%.json,$(ORT_MODELS)) \
	$(patsubst $(EXPORT_DIR)/%.onnx,$(BENCH_DIR)/metrics/openvino-%.json,$(OPENVINO_MODELS))
TRT_METRICS = $(patsubst $(ENGINE_DIR)/%.engine,$(BENCH_DIR)/metrics/tensorrt-%.json,$(TRT_ENGINES))
BENCH_METRICS = $(CPU_METRICS) $(if $(filter yes,$(HAVE_TRT)),$(TRT_METRICS))
BENCH_LATENCY = $(BENCH_DIR)/latency-ort.json $(BENCH_DIR)/latency-openvino.json \
	$(if $(filter yes,$(HAVE_TRT)),$(BENCH_DIR)/latency-tensorrt.json)

$(BENCH_DIR)/metrics/ort-%.json: $(EXPORT_DIR)/%.onnx $(DATA_DEPS) | $(STAMP)
	$(PY) -m eval --backend ort --model $< --data $(VAL_ANN) --imgsz $(IMGSZ) --out $@

$(BENCH_DIR)/metrics/openvino-%.json: $(EXPORT_DIR)/%.onnx $(DATA_DEPS) | $(STAMP)
	$(PY) -m eval --backend openvino --model $< --data $(VAL_ANN) --imgsz $(IMGSZ) --out $@

$(BENCH_DIR)/metrics/tensorrt-%.json: $(ENGINE_DIR)/%.engine $(DATA_DEPS) | $(STAMP)
	$(PY) -m eval --backend tensorrt --model $< --data $(VAL_ANN) --imgsz $(IMGSZ) --device cuda --out $@

$(BENCH_DIR)/latency-ort.json: $(ORT_MODELS) | $(STAMP)
	$(PY) -m bench cpu --models $^ --backends ort --out $@

$(BENCH_DIR)/latency-openvino.json: $(OPENVINO_MODELS) | $(STAMP)
	$(PY) -m bench cpu --models $^ --backends openvino --out $@

# each engine timed at the batch it was built for: the batch-1 engines at 1, the others at $(BATCH)
$(BENCH_DIR)/latency-tensorrt.json: $(TRT_ENGINES_B1) $(if $(filter 1,$(BATCH)),,$(TRT_ENGINES)) | $(STAMP)
	$(PY) -m bench trt $^ --batches opt --out $@

bench: $(BENCH_METRICS) $(BENCH_LATENCY)
	$(PY) -m bench report --metrics $(BENCH_METRICS) --latency $(BENCH_LATENCY) --out $(BENCH_DIR)/report

# CPU speed: YOLOv5s (random weights, minmax) FP32 vs INT8 at 640 and 256, batch 1, 2 threads, ONNX Runtime and
# OpenVINO (each on the graphs it runs fast and the others), interleaved runs; JSON + PNG + table.
bench-cpu-speed: | $(STAMP)
	$(PY) -m bench cpu --arch yolov5s --imgsz 640 256 --runs 60 --rounds 6 --out runs/bench/latency.json

# The runtimes' own quantizers as anchors: ONNX Runtime quantize_static (uint8 activations, per-channel int8
# weights, MinMax) and NNCF quantize on the same FP32 graph, Detect head in float. Timed beside the project's graphs
# in one interleaved run (YOLOv5s at 640, random weights; OpenVINO also at its bf16 default precision), then
# profiled per operator kind; the AP target scores them on the fixture next to the project's UH graphs.
bench-cpu-anchors: | $(BENCH_STAMP)
	$(PY) -m bench cpu --arch yolov5s --anchors --imgsz 640 --runs 60 --rounds 6 --out runs/bench/latency-anchors.json \
		--backends ort openvino openvino-bf16 --op-profile runs/bench/op-profile.json

$(EXPORT_DIR)/ortstatic-w8a8.onnx: $(EXPORT_DIR)/fp32.onnx $(DATA_DEPS) | $(STAMP)
	$(PY) -m bench anchors --fp32 $< --which ortstatic-w8a8 --calib-data $(CALIB_SOURCE) --imgsz $(IMGSZ) \
		--num-images $(CALIB_IMAGES) --rebuild

$(EXPORT_DIR)/nncf-w8a8.onnx: $(EXPORT_DIR)/fp32.onnx $(DATA_DEPS) | $(BENCH_STAMP)
	$(PY) -m bench anchors --fp32 $< --which nncf-w8a8 --calib-data $(CALIB_SOURCE) --imgsz $(IMGSZ) \
		--num-images $(CALIB_IMAGES) --rebuild

ANCHOR_METRICS = $(foreach v,fp32 $(METHOD)-asym-w8a8-cpu ortstatic-w8a8 nncf-w8a8,$(BENCH_DIR)/metrics/ort-$(v).json) \
	$(foreach v,fp32 $(METHOD)-asym-w8a8-cpuexact ortstatic-w8a8 nncf-w8a8,$(BENCH_DIR)/metrics/openvino-$(v).json)

bench-anchors-ap: $(ANCHOR_METRICS) | $(STAMP)
	$(PY) -m bench report --metrics $(ANCHOR_METRICS) --out $(BENCH_DIR)/report-anchors

# Paper Table 1 layout (methods x bits, six AP columns) for the current weights/data, fake-quant in PyTorch
# (python -m sweep): runs/sweep/<model>/table.{json,md}, ap_vs_bits.png, ranges/.
SWEEP_DIR = runs/sweep/$(MODEL)
table: $(DATA_DEPS) | $(STAMP)
	$(PY) -m sweep --weights $(WEIGHTS) --val-data $(VAL_ANN) --calib-data $(CALIB_SOURCE) \
		--num-images $(CALIB_IMAGES) --imgsz $(IMGSZ) --device $(DEVICE) --out $(SWEEP_DIR)

# Per-layer sensitivity at W4A4 and the mixed-precision plan it implies (W4A4 with the most sensitive layers at
# W8A8), on the current weights/data; the plan is exported and scored through ONNX Runtime (fidelity check first).
# MIXED_PROFILE=trt calibrates symmetrically for TensorRT. SENS_AP_IMAGES / MIXED_AP_IMAGES: the first N validation
# images the sensitivity's AP and the search's plans are scored on (empty = all); the chosen plan's ONNX Runtime AP
# is always measured on the whole validation set.
MIXED_SCHEME = $(if $(filter trt,$(MIXED_PROFILE)),sym,asym)
SENS_TOP_K ?= 6
SENS_AP_IMAGES ?= 200
MIXED_AP_IMAGES ?= 200
MIXED_TARGET_DROP ?= 3
MIXED_MAX_SHARE ?= 0.25
SENS_DIR = runs/sensitivity/$(MODEL)
MIXED_DIR = runs/mixed/$(MODEL)
ANALYSIS_ARGS = --weights $(WEIGHTS) --calib-data $(CALIB_SOURCE) --val-data $(VAL_ANN) --num-images $(CALIB_IMAGES) \
	--imgsz $(IMGSZ) --method $(METHOD) --scheme $(MIXED_SCHEME) --device $(DEVICE)

.PHONY: sensitivity mixed
sensitivity: $(SENS_DIR)/sensitivity.json
mixed: $(MIXED_DIR)/metrics-ort-$(MIXED_PROFILE).json

$(SENS_DIR)/sensitivity.json: $(WEIGHTS) $(DATA_DEPS) | $(STAMP)
	$(PY) -m sensitivity $(ANALYSIS_ARGS) --w-bits 4 --a-bits 4 --top-k $(SENS_TOP_K) \
		$(if $(SENS_AP_IMAGES),--ap-images $(SENS_AP_IMAGES)) --out $(SENS_DIR)

$(MIXED_DIR)/mixed.pt: $(SENS_DIR)/sensitivity.json | $(STAMP)
	$(PY) -m mixed $(ANALYSIS_ARGS) --low-bits 4-4 --high-bits 8-8 --ranking $< \
		--target-drop $(MIXED_TARGET_DROP) --max-share $(MIXED_MAX_SHARE) \
		$(if $(MIXED_AP_IMAGES),--ap-images $(MIXED_AP_IMAGES)) --out $(MIXED_DIR)

$(MIXED_DIR)/mixed-$(MIXED_PROFILE).onnx: $(MIXED_DIR)/mixed.pt | $(STAMP)
	$(PY) -m export --artifact $< --profile $(MIXED_PROFILE) --imgsz $(IMGSZ) --dynamic-batch --out $@

$(MIXED_DIR)/metrics-ort-$(MIXED_PROFILE).json: $(MIXED_DIR)/mixed-$(MIXED_PROFILE).onnx $(DATA_DEPS) | $(STAMP)
	$(PY) -m eval --backend ort --model $< --data $(VAL_ANN) --imgsz $(IMGSZ) --out $@

# The paper's Figure 1 for the current weights: three representative layers' activation histograms with the clipping
# ranges of minmax, percentile, mse, entropy and UH at A8 and A4 (one calibration pass; PNG per layer, grid, JSON).
# `make table` draws the same figures into runs/table/ranges.
ranges: $(DATA_DEPS) | $(STAMP)
	$(PY) -m calib.plot --weights $(WEIGHTS) --data $(CALIB_SOURCE) --num-images $(CALIB_IMAGES) --imgsz $(IMGSZ) \
		--device $(DEVICE) --out runs/ranges/$(MODEL)

# The first run on a GPU machine (inside the image, or any host with CUDA torch and TensorRT): the suite's GPU tests,
# the fixture's FP16 and INT8 engines built and evaluated with the fidelity check, UH calibration of 1,500 images at
# 640 px timed; one pass/fail report per step (table + runs/gpu-check/report.json), in under 10 minutes. Without a
# GPU it stops at once, saying so.
gpu-check: | $(STAMP)
	$(PY) -m bench gpu-check --out runs/gpu-check

# GPU image (docker/Dockerfile: NGC PyTorch base with TensorRT). The shell mounts the host's data, weights and
# runs folders onto the same relative paths inside, so the targets above take the same arguments there.
IMAGE ?= q-yolo-gpu:latest
BASE_IMAGE ?= nvcr.io/nvidia/pytorch:25.01-py3
HOST_DATA ?= data
HOST_WEIGHTS ?= weights
CONTAINER_ROOT := /workspace/q-yolo

docker-build:
	DOCKER_BUILDKIT=1 docker build -f docker/Dockerfile --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) .

docker-shell:
	mkdir -p runs $(HOST_DATA) $(HOST_WEIGHTS)
	docker run --rm -it --gpus all --ipc=host --ulimit memlock=-1 --ulimit stack=67108864 \
		-v $(abspath $(HOST_DATA)):$(CONTAINER_ROOT)/data -v $(abspath $(HOST_WEIGHTS)):$(CONTAINER_ROOT)/weights \
		-v $(CURDIR)/runs:$(CONTAINER_ROOT)/runs $(IMAGE)
