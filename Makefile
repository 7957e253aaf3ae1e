# The commands a newcomer needs: `make demo` and `make test`. Everything else is a step of those.
# PYTHON=... to choose; otherwise the first of these that is Python >= 3.11
PYTHON_CANDIDATES := python3.13 python3.12 python3.11 python3
VENV ?= .venv
PY := $(VENV)/bin/python
KAFKA := $(PY) -m stream_classifier_workbench.devtools.kafka_broker
KAFKA_PORT ?= 9092
PYTEST_ARGS ?=

.PHONY: install install-demo kafka-jars kafka-up kafka-down kafka-clean kafka-status \
        kafka-cluster-up kafka-cluster-down kafka-cluster-clean model eval distill bench lint test helm soak demo clean

# Two installs: the demo's extras (build the default model, real texts: no torch) and dev
# (tests, benchmarks, --from-hf builds: torch). dev includes everything the demo needs.
install: $(VENV)/.installed-dev
install-demo: $(VENV)/.installed-demo

$(VENV)/bin/python:
	@py="$(PYTHON)"; \
	if [ -z "$$py" ]; then \
	  for candidate in $(PYTHON_CANDIDATES); do \
	    if command -v $$candidate >/dev/null 2>&1 && \
	       $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	      py=$$candidate; break; \
	    fi; \
	  done; \
	  [ -n "$$py" ] || { echo "Python >= 3.11 is required: none of $(PYTHON_CANDIDATES) on PATH is (or pass PYTHON=/path/to/python3.x)"; exit 1; }; \
	elif ! $$py -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	  echo "Python >= 3.11 is required: PYTHON=$$py is not (or is not found)"; exit 1; \
	fi; \
	echo "creating $(VENV) with $$py ($$($$py --version))"; \
	$$py -m venv $(VENV) && $(PY) -m pip install --upgrade pip

# The runtime (this folder's pyproject.toml) and the workbench (workbench/pyproject.toml: building,
# training, evaluation, benchmarks, the demo) are two distributions, installed side by side.
$(VENV)/.installed-dev: pyproject.toml workbench/pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -e ".[serve]" -e "./workbench[dev]"
	touch $@

$(VENV)/.installed-demo: pyproject.toml workbench/pyproject.toml | $(VENV)/bin/python
	@if [ $(VENV)/.installed-dev -nt pyproject.toml ] && [ $(VENV)/.installed-dev -nt workbench/pyproject.toml ]; then \
	  echo "the dev install is up to date and includes the demo's extras"; \
	else \
	  $(PY) -m pip install -e ".[serve]" -e "./workbench[demo]"; \
	fi
	touch $@

kafka-jars: install-demo
	$(KAFKA) jars

kafka-up: install-demo
	$(KAFKA) up --port $(KAFKA_PORT)

kafka-down: install-demo
	$(KAFKA) down --port $(KAFKA_PORT)

kafka-clean: install-demo
	$(KAFKA) clean --port $(KAFKA_PORT)

kafka-status: install-demo
	$(KAFKA) status --port $(KAFKA_PORT)

kafka-cluster-up: install-demo
	$(KAFKA) cluster up

kafka-cluster-down: install-demo
	$(KAFKA) cluster down

kafka-cluster-clean: install-demo
	$(KAFKA) cluster clean

model: install-demo
	$(PY) -m stream_classifier model build

eval: install-demo
	$(PY) -m stream_classifier model eval

# Distil the teacher into the LAYERS-layer student from scratch (a CUDA GPU if there is one, else
# the CPU: hours), into workbench/stream_classifier_workbench/building/weights. Resumable: run it again after a stop.
LAYERS ?= 3
distill: install
	$(PY) -m stream_classifier model distill --layers $(LAYERS)

bench: install kafka-jars
	$(PY) -m stream_classifier bench engine --out results
	$(PY) -m stream_classifier bench stream --out results
	$(PY) -m stream_classifier bench profile --out results
	$(PY) -m stream_classifier bench serve --out results

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# PYTHONHASHSEED: the generated-input tests (hypothesis, schemathesis) draw the same cases every run
test: install kafka-jars helm lint
	PYTHONHASHSEED=0 $(PY) -m pytest $(PYTEST_ARGS)

# helm for the chart's tests: the one on PATH, or built once from the Go module proxy into .cache/bin
HELM_VERSION := v3.19.0
helm: .cache/bin/helm.$(HELM_VERSION)
.cache/bin/helm.$(HELM_VERSION):
	@if command -v helm >/dev/null 2>&1; then mkdir -p .cache/bin && touch $@; exit 0; fi; \
	go=$$(command -v go || echo /usr/local/go/bin/go); \
	if [ -x "$$go" ]; then \
	  echo "building helm $(HELM_VERSION) with $$go (once)"; \
	  mkdir -p .cache/bin && GOBIN=$(CURDIR)/.cache/bin $$go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION) && touch $@; \
	else \
	  echo "no helm and no Go toolchain: the Helm chart tests will be skipped"; \
	fi

# the fault-injection suite, again and again: make soak DURATION=2h
DURATION ?= 30m
soak: install kafka-jars
	$(PY) tests/reliability/soak.py --duration $(DURATION)

demo: install-demo
	$(PY) -m stream_classifier_workbench.demo

clean: kafka-clean
	rm -rf $(VENV) results .pytest_cache
