# The only entry points. `make book` and `make test` set everything up on a fresh clone.
#   make book [FORCE=1]             set up, execute the chapters (quick profile) whose inputs changed since
#                                   their stored execution (gancore.freshness; FORCE=1: every chapter),
#                                   build the HTML book
#   make archive                    make html, then a versioned, checksummed release tarball of the book,
#                                   executed notebooks, results/ and lock file -> _build/archive/
#   make test                       set up, unit tests + nbval over the executed notebooks, then `make browser`
#   make html                       rebuild the HTML from the stored executed notebooks (no execution)
#   make nbval [NOTEBOOKS=book/executed/srfb.ipynb]   nbval over the executed notebooks (or those named)
#   make browser                    make html, then load every page in headless Chromium and check it:
#                                   math typeset, images loaded, no TeX in link text, internal links resolve
#   make publish [REMOTE=origin]    make html, then write it to the gh-pages branch (ghp-import, .nojekyll);
#                                   pushes only when REMOTE is given
#   make chapter NAME=toolkit [PROFILE=quick] [DEVICE=auto] [SEED=3] [STORE=1] [OVERRIDES='{"steps": 6000}'] [LONG=1]
#   make sweep NAME=alpha_gan SEEDS=0-199 [GRID='{"ring": {"lr": [1e-4, 2e-4]}}'] [SEEDS_PER_JOB=50]
#              [SCHEDULER=tcp://host:8786] [WORKERS=2] [PROFILE=quick] [DEVICE=auto] [OVERRIDES='{...}']
#              [SWEEP=label]   (its folder name; default: the profile and a hash of its jobs) [REPLACE=1] [LONG=1]
#                                   a chapter's experiment over a grid x seeds on Dask -> results/NAME/<sweep>/
#   make bench [BENCH=toolkit]      benchmarks -> benchmarks/results/*.json (all, or the named ones)
#   make clean                      remove _build (keeps .venv)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
CACHE := $(CURDIR)/_build/cache
MATHJAX := _build/mathjax/_static/mathjax

# Tool caches inside the build tree, so runs are clean and nothing is written to $HOME.
export MPLCONFIGDIR := $(CACHE)/matplotlib
export IPYTHONDIR := $(CACHE)/ipython
export JUPYTER_CONFIG_DIR := $(CACHE)/jupyter/config
export JUPYTER_DATA_DIR := $(CACHE)/jupyter/data
export JUPYTER_RUNTIME_DIR := $(CACHE)/jupyter/runtime
export GANCORE_CACHE := $(CACHE)/gancore
export XDG_CACHE_HOME := $(CACHE)/xdg
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# Portable CPU numerics (gancore/numerics.py): chapters, sweeps, tests and nbval get the same bits on
# any x86-64 CPU with AVX2 (MKL's reproducible AVX2 branch, ATen's and OpenBLAS's AVX2 kernels, one
# thread, convolutions off oneDNN), so stored notebooks come out on a CPU other than the one that
# executed them, whatever its number of cores. One thread is also the faster choice here for the book's
# small networks, alone or beside a sweep (benchmarks/results/threads.json).
export GANCORE_NUMERICS ?= portable
export MKL_CBWR ?= AVX2,STRICT
export ATEN_CPU_CAPABILITY ?= avx2
export OPENBLAS_CORETYPE ?= Haswell
export OMP_NUM_THREADS ?= 1
$(shell mkdir -p $(MPLCONFIGDIR) $(IPYTHONDIR) $(JUPYTER_CONFIG_DIR) $(JUPYTER_DATA_DIR) $(JUPYTER_RUNTIME_DIR) $(GANCORE_CACHE) $(XDG_CACHE_HOME))

# Chapters in _toc.yml order (book/executed/NAME entries).
CHAPTERS := $(shell sed -n 's|.*file: book/executed/\(.*\)$$|\1|p' _toc.yml)
NAME ?= toolkit
PROFILE ?= quick
DEVICE ?= auto
# User values reach the programs through the environment (GANCORE_ARG_*), never pasted into the command
# text: a quote or a $ in OVERRIDES or GRID is passed as it is, not run by the shell. $(value X) is the
# value as given (make expands nothing in it); a recipe names it "$$GANCORE_ARG_X", in double quotes.
USER_VALUES := NAME PROFILE DEVICE SEED OVERRIDES SEEDS GRID SEEDS_PER_JOB SCHEDULER WORKERS SWEEP
$(foreach v,$(USER_VALUES),$(eval chapter chapters sweep: export GANCORE_ARG_$(v) := $$(value $(v))))
unexport $(USER_VALUES) STORE LONG REPLACE  # make would expand them to export them to every recipe
arg = $(if $(value $(1)),$(2) "$$GANCORE_ARG_$(1)")
CHAPTER_ARGS := --profile "$$GANCORE_ARG_PROFILE" --device "$$GANCORE_ARG_DEVICE" $(call arg,SEED,--seed) \
	$(if $(value STORE),--store) $(call arg,OVERRIDES,--overrides) $(if $(value LONG),--allow-long)
SWEEP_ARGS := --profile "$$GANCORE_ARG_PROFILE" --device "$$GANCORE_ARG_DEVICE" $(call arg,SEEDS,--seeds) \
	$(call arg,GRID,--grid) $(call arg,SEEDS_PER_JOB,--seeds-per-job) $(call arg,SCHEDULER,--scheduler) \
	$(call arg,WORKERS,--workers) $(call arg,SWEEP,--sweep) $(call arg,OVERRIDES,--overrides) \
	$(if $(value REPLACE),--replace) $(if $(value LONG),--allow-long)

.PHONY: setup book html chapter chapters sweep test unit nbval browser publish archive bench clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	rm -f $(VENV)/.installed-*
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(MATHJAX)/tex-mml-chtml.js: $(STAMP)
	rm -rf $(MATHJAX) && mkdir -p $(dir $(MATHJAX))
	cp -r "$$($(PY) -c 'import mathjax, pathlib; print(pathlib.Path(mathjax.__file__).parent / "static/mathjax/es5")')" $(MATHJAX)

book: setup chapters html

chapters: setup
	@for name in $(CHAPTERS); do $(PY) -m gancore.runs execute $$name --profile quick --device "$$GANCORE_ARG_DEVICE" \
		$(if $(FORCE),,--if-changed) || exit 1; done

chapter: setup
	$(PY) -m gancore.runs execute "$$GANCORE_ARG_NAME" $(CHAPTER_ARGS)

sweep: setup
	$(PY) -m gancore.sweep "$$GANCORE_ARG_NAME" $(SWEEP_ARGS)

html: setup $(MATHJAX)/tex-mml-chtml.js
	$(PY) -m gancore.status --out book/status.md
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going --quiet
	@echo "The book: _build/html/index.html"

test: setup unit nbval browser

unit: setup
	$(PY) -m pytest tests -q -m "not browser"

# NOTEBOOKS=book/executed/srfb.ipynb checks only the notebooks named (default: all of them).
NOTEBOOKS ?= book/executed
nbval: setup
	$(PY) -m pytest --nbval $(NOTEBOOKS) --nbval-sanitize-with book/nbval-sanitize.cfg -p no:cacheprovider -q \
		--junitxml=_build/nbval.xml

# Needs Debian's chromium and chromium-driver (.ci/run installs them); skips, saying so, without them.
browser: html
	$(PY) -m pytest tests/test_browser.py -q

archive: html
	$(PY) -m gancore.archive --out _build/archive

publish: html
	.ci/publish.sh _build/html $(REMOTE)

# Benchmarks measure the machine's fastest kernels (default numerics), as benchmarks/results/ was measured.
bench: setup
	env -u GANCORE_NUMERICS -u MKL_CBWR -u ATEN_CPU_CAPABILITY -u OPENBLAS_CORETYPE -u OMP_NUM_THREADS \
		$(PY) -m benchmarks $(BENCH)

clean:
	rm -rf _build
