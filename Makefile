# The two commands of the README: `make run` and `make test`.
.PHONY: run test bench setup

setup:
	./scripts/bootstrap.sh

run: setup
	.venv/bin/guichet run

test:
	./scripts/test.sh

bench: setup
	.venv/bin/python -m tests.benchmarks.intake
