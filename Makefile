# netc: `make run` sets everything up and compiles the main spec; `make test` runs the test suite.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast bench clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -c constraints.txt -e ".[tf,dev,deploy,lsp,torch,torch-dev]"
	# tf_keras (legacy Keras 2) and TF Model Garden build the tests' tf_keras checkpoints; without their
	# dependencies, which name the `tensorflow` package where netc uses tensorflow-cpu, and pull in gin and the
	# NLP stack (the pins are the `legacy-keras` extra of pyproject.toml)
	$(PY) -m pip install -q --no-compile --no-deps "tf-keras==2.21.0" "tf-models-official==2.20.0"
	# the bytecode on every core (pip compiles on one: 27 s of a 91 s install here, 17 s this way); like pip,
	# it passes over the files this Python cannot compile (torch's Python 3.12-only test helper)
	$(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/netc summary specs/openpose.net
	$(VENV)/bin/netc build specs/openpose.net -o openpose.onnx

# every core: tests sharing an expensive fixture stay on one worker (tests/conftest.py); WORKERS=0 runs serially
WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n $(WORKERS) --dist loadgroup tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n $(WORKERS) --dist loadgroup -m "not slow and not fuzz" tests

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info openpose.onnx
