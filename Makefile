# The two set-up commands of the README: `make demo` and `make test`.
# Both create the virtual environment and install what they need themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean tools kafka test-cluster3

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Apache Kafka's jars (broker + runtime dependencies) from Maven Central, for the local KRaft
# node / cluster (`mmstream up --broker kafka`, the Kafka test tier). Needs Maven and Java 17+.
KAFKA_LIB   := .kafka/lib
KAFKA_STAMP := $(KAFKA_LIB)/.fetched

kafka: $(KAFKA_STAMP)

$(KAFKA_STAMP): deploy/kafka/pom.xml
	rm -rf $(KAFKA_LIB)
	mvn -B -q -f deploy/kafka/pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(KAFKA_LIB)
	touch $(KAFKA_STAMP)

demo: $(STAMP)
	$(BIN)/mmstream up

# lint and types once, then the whole suite on Tansu and every broker test again on a local Apache
# Kafka (tests/tiers.sh; MMSTREAM_TEST_TIERS=parallel runs the two at the same time, as .ci/run does;
# without Java the Kafka tier is skipped and says so; CI=true makes that fatal)
test: $(STAMP) lint typecheck
	PYTEST_ARGS="$(PYTEST_ARGS)" tests/tiers.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The 3-node Kafka tier (RF 3, min.insync.replicas 2): broker / worker kills, compaction.
test-cluster3: $(STAMP) kafka
	MMSTREAM_TEST_CLUSTER3=1 $(BIN)/python -m pytest -ra -m cluster3 tests/integration/cluster $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -ra tests/unit $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Command-line tools some tests use, from Debian: promtool (package prometheus) checks and runs
# deploy/alerts.yml; kcat checks the README's stock-tools notes. Needs root (CI runs it).
tools:
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
