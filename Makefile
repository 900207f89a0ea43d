# guardstream: `make run` (the end-to-end job on embedded defaults) and `make test` (the whole suite).
# Both set everything up on a fresh machine; caches live in ignored folders (.venv, .cache, .run).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
GS := $(VENV)/bin/guardstream
PY := $(VENV)/bin/python
DEFAULT_CHECKPOINT := triton_models/guard/1/checkpoint
# make test runs the stack tests in this many parallel lanes (most of them wait on the stack, not the
# CPU); then the tests marked exclusive (they restart a component or change the served model) with the
# standalone unit tests beside them (they use nothing of the stack); then the sustained-rate test alone.
TEST_LANES ?= 3
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test unit lint up down system-deps browser-deps model test-model venv clean bench chaos

run: venv system-deps model ## replay a generated chat stream end to end; last line is SUMMARY
	@$(GS) dev up; \
	$(GS) demo --summary-file .run/summary.txt; status=$$?; \
	$(GS) dev down >/dev/null; \
	if [ -s .run/summary.txt ] && [ $$status -eq 0 ]; then tail -n 1 .run/summary.txt; fi; \
	exit $$status

test: venv system-deps browser-deps test-model ## start Kafka, Triton and PostgreSQL, run every test, stop them
	@$(GS) dev up --postgres; \
	export GUARDSTREAM_REQUIRE_STACK=1 GUARDSTREAM_TEST_POSTGRES_URL=$$($(GS) dev postgres-url); \
	rm -f .run/logs/incidents.log; \
	$(MAKE) --no-print-directory lint && \
	{ $(PY) -m pytest tests -m "not exclusive and not standalone" -n $(TEST_LANES) --dist loadgroup; lanes=$$?; \
	  $(PY) -m pytest tests -m standalone > .run/logs/standalone-tests.log 2>&1 & standalone=$$!; \
	  $(PY) -m pytest tests -m "exclusive and not sustained_rate"; exclusive=$$?; \
	  wait $$standalone; beside=$$?; echo "== the standalone unit tests, run beside them:"; tail -n 150 .run/logs/standalone-tests.log; \
	  $(PY) -m pytest tests -m sustained_rate; alone=$$?; \
	  [ $$lanes -eq 0 ] && [ $$exclusive -eq 0 ] && [ $$beside -eq 0 ] && [ $$alone -eq 0 ]; }; status=$$?; \
	$(GS) dev down; \
	if [ -s .run/logs/incidents.log ]; then \
		echo "== the dev stack lost a component during the tests (.run/logs/incidents.log; the first comes first):"; \
		head -n 80 .run/logs/incidents.log; fi; \
	exit $$status

bench: venv system-deps model ## start the stack, run every benchmark phase (BENCH lines, bench/results.json, bench/latency.png), stop it
	@$(GS) dev up; \
	$(GS) bench run; status=$$?; \
	$(GS) dev down; exit $$status

chaos: venv system-deps model ## start Kafka, Triton and PostgreSQL, run every chaos scenario (CHAOS lines, .run/chaos/results.json), stop them
	@$(GS) dev up --postgres; \
	$(GS) chaos run --report .run/chaos/results.json; status=$$?; \
	$(GS) dev down; exit $$status

unit: venv ## fast tests that need nothing running
	$(PY) -m pytest tests/unit

lint: venv ## import directions (DESIGN.md) hold
	$(VENV)/bin/lint-imports

up: venv system-deps model
	$(GS) dev up --postgres

down: venv
	$(GS) dev down

model: venv system-deps ## the default cascade: fast guard (pretrained encoder, fine-tuned on synthetic + real data) and generative guard (cached)
	$(GS) model build-default --out $(DEFAULT_CHECKPOINT)

test-model: venv system-deps ## the same cascade with the fast guard's short test build (what make test serves)
	$(GS) model build-default --out $(DEFAULT_CHECKPOINT) --fast-profile test

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip setuptools wheel
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[dev]'
	# faust-streaming pins click<8.4 for its own CLI (unused here), which transformers' huggingface_hub
	# cannot live with; its runtime dependencies are in pyproject.toml, so it goes in without its pins.
	$(VENV)/bin/pip install --quiet --no-deps -c constraints.txt faust-streaming==0.15.3
	touch $@

system-deps: ## Debian packages the stack and tests use (kcat, PostgreSQL, Java for the broker)
	@missing=""; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	test -x /usr/lib/postgresql/15/bin/postgres || missing="$$missing postgresql"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

browser-deps: ## Debian's Chromium and CJK fonts, for the review app's browser tests
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	test -d /usr/share/fonts/opentype/noto || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

clean: down
	rm -rf .run
