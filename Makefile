# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench fuzz clean package package-test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/quantpick

# The whole suite, then the frozen bundle's smoke test (about a minute with the build, so it belongs here).
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q
	$(MAKE) package-test

bench: $(STAMP)
	$(PY) -m bench.run --out bench/results.md $(if $(LLAMA_QUANTIZE),--llama-quantize $(LLAMA_QUANTIZE))

# The double-clickable bundle for this OS (dist/quantpick, on Linux also dist/Quantpick.AppDir): packaging/README.md.
package: $(STAMP)
	$(PY) -m pip install --quiet -r packaging/requirements.txt
	nice -n 10 $(PY) packaging/build.py

# Build it, then run the frozen binary: --version, a Q8_0 conversion, the window (offscreen), its files.
package-test: package
	QT_QPA_PLATFORM=offscreen QUANTPICK_BUNDLE=dist/quantpick/quantpick $(PY) -m pytest -q tests/packaging

# Parsers under attack (>= 10,000 mutated inputs each) and faults during conversion (>= 20 runs each).
fuzz: $(STAMP)
	$(PY) -m tests.fuzz --count $(or $(FUZZ_COUNT),10000) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))
	$(PY) -m tests.faults --runs $(or $(FAULT_RUNS),20) $(if $(FAULT_SEED),--seed $(FAULT_SEED))

clean:
	rm -rf $(VENV) build dist *.egg-info
