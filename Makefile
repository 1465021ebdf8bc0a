# Each target builds its own virtual environment in .venv on first use, so a
# fresh clone needs only python3 (3.11 or newer) and make.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test lint bench bench-throughput bench-validate bench-service schema clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/mtls-runner demo

# The second run checks that the CA variables of the environment change nothing.
test: $(BIN)/.installed
	$(BIN)/python -m pytest
	env -u SSL_CERT_FILE -u SSL_CERT_DIR -u CURL_CA_BUNDLE -u REQUESTS_CA_BUNDLE \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration

lint: $(BIN)/.installed
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy --strict runner

bench: bench-throughput bench-validate bench-service

# Needs nginx and the curl CLI; prints a Markdown table (docs/benchmarks.md).
bench-throughput: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/throughput.py

# Regenerate the JSON Schema from the models; a test fails while it is stale.
schema: $(BIN)/.installed
	$(BIN)/mtls-runner schema > schemas/jobfile.schema.json

# Time `validate --schema-only` against check-jsonschema on generated job files.
bench-validate: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/validate_bench.py

# Needs nginx; runs the service for 140 s per scenario and prints JSON summaries.
bench-service: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/service_bench.py --scenario burst --duration 140
	$(BIN)/python benchmarks/service_bench.py --scenario spread --duration 140

clean:
	rm -rf $(VENV) build *.egg-info
