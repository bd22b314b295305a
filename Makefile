# crypto-dashboard: the commands a newcomer runs. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help dev test build-lambdas bench soak fmt clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

dev: ## Database up, migrations, one ingestion, then the API and dashboard on :3000 (COINGECKO=sim forces the simulator)
	@scripts/dev.sh

test: ## Everything: throwaway PostgreSQL + moto_server, all tests, fmt and clippy
	@scripts/test.sh

fmt: ## Format the code
	cargo fmt --all

clean: ## Remove build output and local clusters
	-scripts/pg.sh destroy pg-dev
	rm -rf target .local

build-lambdas: ## arm64 Lambda zips of every function (cargo lambda), with their sizes
	@scripts/build-lambdas.sh

bench: ## Benchmarks (release builds, ~20-40 min); writes docs/benchmarks.md
	@scripts/bench.sh

soak: ## Load, and load through a PostgreSQL crash and restart (bounded); writes docs/load.md
	@scripts/soak.sh
