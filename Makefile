# Two commands: `make lab` (work through the course) and `make test` (everything CI checks).
# Both create .venv on a fresh machine and reinstall only when a requirements file changes.
# (--retries 1: where PyTorch's CPU index is unreachable, pip falls back to the local wheel
# cache at once instead of backing off five times for every package.)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# JupyterLab refuses to run as root without --allow-root (Binder never runs as root).
LAB_FLAGS := --no-browser $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_PORT ?= 8888

.PHONY: lab book test test-loaded bench-grading release grade messages clean

$(STAMP): binder/requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --retries 1 -r binder/requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

# JupyterLab's settings for the course (binder/overrides.json, also used on Binder): no prompt
# asking to fetch Jupyter news. Installed as the application's overrides in .venv.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_SETTINGS): binder/overrides.json $(STAMP)
	mkdir -p $(dir $@)
	cp binder/overrides.json $@

# `make lab LAB_LANG=zh_CN` opens the Chinese notebooks (notebooks/zh_CN/) instead.
LAB_LANG ?= en
LAB_FIRST := notebooks/$(if $(filter-out en,$(LAB_LANG)),$(LAB_LANG)/,)00_baseline.ipynb

lab: $(STAMP) $(LAB_SETTINGS)
	test -f $(LAB_FIRST) || { echo "LAB_LANG=$(LAB_LANG): no $(LAB_FIRST) (languages: en, zh_CN)"; exit 2; }
	$(BIN)/jupyter lab $(LAB_FLAGS) --port=$(LAB_PORT) --ServerApp.root_dir=. $(LAB_FIRST)

# Checks fail loudly and progress bars stay quiet while the solved notebooks execute.
# The two suites run side by side (each mostly keeps one core busy): the lessons' nbval run in
# the background, its report printed when both are done; either failing fails the target.
NBVAL_LOG := .venv/nbval.log
test: export COMPRESS_COURSE_STRICT = 1
test: export COMPRESS_COURSE_QUIET = 1
test: $(STAMP)
	$(BIN)/ruff check .
	@echo "nbval: executing the solved lessons in the background (report below when done)"
	@$(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=300 \
		solutions > $(NBVAL_LOG) 2>&1 & lessons=$$!; \
	trap 'kill $$lessons 2>/dev/null' INT TERM; \
	$(BIN)/python -m pytest tests; checks=$$?; \
	wait $$lessons; executed=$$?; \
	echo "---- nbval: the solved lessons ----"; cat $(NBVAL_LOG); \
	test $$checks -eq 0 && test $$executed -eq 0

# Loaded-machine test (not part of `make test`: it executes every lesson twice, the second
# time with a busy process on every core). Table in results/loaded.json. LESSONS="00 06" for a few.
test-loaded: $(STAMP)
	$(BIN)/python tools/loaded_run.py $(LESSONS)

# Grader benchmark (not part of `make test`: timings depend on the machine): CPU of one
# submission, wall time of a class of 100. BENCH_ARGS="--learners 20" for a smaller class.
bench-grading: $(STAMP)
	$(BIN)/python tools/bench_grading.py $(BENCH_ARGS)

release: $(STAMP)
	$(BIN)/compress-course release

grade: $(STAMP)
	$(BIN)/compress-course grade $(or $(DIR),notebooks)

# Message catalog of the visible checks and the grader (compress_course/i18n.py): extract the
# English messages from the source, then merge them into each language's .po (new messages
# arrive untranslated, changed ones fuzzy; tests/test_messages.py fails until they are done).
LOCALE := compress_course/locale
messages: $(STAMP)
	$(BIN)/pybabel extract --project=compress_course -k part -c NOTE: --add-location=file \
		--sort-by-file -o $(LOCALE)/compress_course.pot compress_course tests/exercises
	$(BIN)/pybabel update -D compress_course -i $(LOCALE)/compress_course.pot -d $(LOCALE) \
		-l zh_CN --ignore-obsolete --ignore-pot-creation-date

# The course book (book/build.py): every lesson in English and 简体中文 as a static site in
# book/_build/html (solved notebooks executed once, cached), then its browser test
# (tests/book: headless Chromium from /usr/bin/chromium, `apt-get install -y chromium
# chromium-driver`). BOOK_ARGS="--jobs 2" executes two notebooks at a time.
BOOK_STAMP := $(VENV)/.installed-book
$(BOOK_STAMP): requirements-book.txt $(STAMP)
	$(BIN)/python -m pip install --retries 1 -r requirements-book.txt
	touch $(BOOK_STAMP)

book: $(BOOK_STAMP)
	$(BIN)/python book/build.py $(BOOK_ARGS)
	COMPRESS_COURSE_BOOK_TEST=1 $(BIN)/python -m pytest -p no:cacheprovider tests/book

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis book/_build
