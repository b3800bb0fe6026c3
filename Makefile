# The two commands of the README: `make run` and `make test`.
.PHONY: run test bench bench-intake bench-documents bench-channels bench-einvoice bench-urbanism setup

setup:
	./scripts/bootstrap.sh

run: setup
	.venv/bin/guichet run

test:
	./scripts/test.sh

bench: bench-intake bench-documents bench-channels bench-einvoice bench-urbanism

bench-intake: setup
	.venv/bin/python -m tests.benchmarks.intake

bench-documents: setup
	.venv/bin/python -m tests.benchmarks.documents

bench-channels: setup
	.venv/bin/python -m tests.benchmarks.channels

bench-einvoice: setup
	.venv/bin/python -m tests.benchmarks.einvoice

bench-urbanism: setup
	.venv/bin/python -m tests.benchmarks.urbanism
