# atrelay: the two commands are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
DATA_DIR ?= ./data

.PHONY: run test lint fmt bench e2e build clean

## Run the relay: SQLite and the event log under ./data/, no other setup.
run:
	mkdir -p $(DATA_DIR)
	$(CARGO) run --release -p atrelay -- serve

## Run every test of the workspace. PostgreSQL tests run when TEST_DATABASE_URL is set.
## Benchmarks are not run here (their setup builds large data sets); `make lint` compiles them.
test:
	@if [ -z "$$TEST_DATABASE_URL" ]; then \
		echo "notice: TEST_DATABASE_URL is not set; PostgreSQL tests will be skipped (SQLite tests still run)."; \
	fi
	$(CARGO) test --workspace --lib --bins --tests --examples
	$(CARGO) test --workspace --doc

## Formatting and clippy, warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Criterion benchmarks; figures go into docs/performance.md.
bench:
	$(CARGO) bench --workspace

## Interoperability run: atrelay between a PLC directory, two reference PDS hosts and reference
## consumers, all on 127.0.0.1 (scripts/e2e/README.md). Installs its pinned npm and PyPI packages.
e2e:
	CARGO=$(CARGO) bash scripts/e2e/run.sh

build:
	$(CARGO) build --workspace --release

clean:
	$(CARGO) clean
