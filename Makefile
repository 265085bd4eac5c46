# Developer entry points. `make test` is the test command CI runs (.ci/run).
PY ?= python3
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup test lint typecheck test-node test-python demo bench clean

setup:
	./setup.sh

lint:
	ruff check harness workloads nemesis checkers cluster reports tests bench

typecheck:
	mypy

test-node:
	cd cluster/node && cargo test --release --locked -q

# pytest exits 5 when it collected no test: that is a failure here, never a pass.
test-python:
	$(PY) -m pytest tests; rc=$$?; [ $$rc -ne 5 ] || echo "no tests were collected"; exit $$rc

test: lint typecheck test-node test-python

demo:
	chaos run --workload register --nemesis partition --time-limit 30

bench:
	$(PY) bench/checker.py
	$(PY) bench/generator.py

clean:
	chaos cluster down --all || true
	chaos heal || true
