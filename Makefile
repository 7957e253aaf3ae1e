# The commands a newcomer needs: `make demo` and `make test`. Everything else is a step of those.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
KAFKA := $(PY) -m stream_classifier.devtools.kafka_broker
KAFKA_PORT ?= 9092
PYTEST_ARGS ?=

.PHONY: install kafka-jars kafka-up kafka-down kafka-clean kafka-status \
        kafka-cluster-up kafka-cluster-down kafka-cluster-clean model eval bench test soak demo clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,serve-dev]"
	touch $@

kafka-jars: install
	$(KAFKA) jars

kafka-up: install
	$(KAFKA) up --port $(KAFKA_PORT)

kafka-down: install
	$(KAFKA) down --port $(KAFKA_PORT)

kafka-clean: install
	$(KAFKA) clean --port $(KAFKA_PORT)

kafka-status: install
	$(KAFKA) status --port $(KAFKA_PORT)

kafka-cluster-up: install
	$(KAFKA) cluster up

kafka-cluster-down: install
	$(KAFKA) cluster down

kafka-cluster-clean: install
	$(KAFKA) cluster clean

model: install
	$(PY) -m stream_classifier model build

eval: install
	$(PY) -m stream_classifier model eval

bench: install kafka-jars
	$(PY) -m stream_classifier bench engine --out results
	$(PY) -m stream_classifier bench stream --out results
	$(PY) -m stream_classifier bench profile --out results
	$(PY) -m stream_classifier bench serve --out results

test: install kafka-jars
	$(PY) -m pytest $(PYTEST_ARGS)

# the fault-injection suite, again and again: make soak DURATION=2h
DURATION ?= 30m
soak: install kafka-jars
	$(PY) tests/reliability/soak.py --duration $(DURATION)

demo: install
	$(PY) -m stream_classifier.demo

clean: kafka-clean
	rm -rf $(VENV) results .pytest_cache
