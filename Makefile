# dalenet: the two commands of the README are `make demo` and `make test`; both install what
# they need (Debian packages, as root), fetch and verify data, and build.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DALENET := $(BUILD)/dalenet

.PHONY: all deps deps-torch deps-test configure build build-cli data test configure-sanitize check-sanitize fuzz fuzz-merge demo paper-full bench lint format clean install package check-package

all: build

deps:
	bash scripts/install-deps.sh

deps-torch:
	bash scripts/install-deps.sh --with-torch

deps-test:
	bash scripts/install-deps.sh --with-torch --with-browser

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The command-line tool alone (what `make demo` needs; the tests and bindings are not built).
build-cli: configure
	cmake --build $(BUILD) -j $(JOBS) --target dalenet

data: build
	$(DALENET) data fetch
	$(DALENET) data verify

# Unit tests need no data; the integration tests use the fetched MNIST/Fashion-MNIST.
test: deps-test data
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# One clang tree (build-asan) serves the sanitizer tests and the fuzzers: every file built with
# AddressSanitizer + UBSan (a finding aborts, so it fails) and libFuzzer's coverage counters.
# -O1 with line tables (enough for the reports' stack traces), as libFuzzer's and OSS-Fuzz's guides
# do; clang compiles this tree in about half GCC's time. Not -Werror here: warnings are gated by the
# GCC build of `make test`.
SANITIZE_BUILD := build-asan
SANITIZE_OPT := -O1 -gline-tables-only -DNDEBUG
configure-sanitize: deps
	CC=clang CXX=clang++ cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DDALENET_SANITIZE=ON -DDALENET_FUZZ=ON -DDALENET_MPI=OFF -DDALENET_BUILD_BENCHMARKS=OFF -DDALENET_BUILD_PYTHON=OFF \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$(SANITIZE_OPT)"

# The unit and integration tests again, in the sanitizer tree.
check-sanitize: data configure-sanitize
	cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(SANITIZE_BUILD) --output-on-failure -j $(JOBS)

# libFuzzer on every parser of outside bytes, FUZZ_SECONDS each, starting from the kept corpus in
# fuzz/corpus/<target> (copied: CI never modifies the repository). A crash fails the target and
# leaves the input as build-asan/fuzz/crash-*. `make fuzz-merge` folds the new interesting inputs
# of the last run into fuzz/corpus (then commit them as regression inputs).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := idx model config
fuzz: configure-sanitize
	cmake --build $(SANITIZE_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  rm -rf $(SANITIZE_BUILD)/work-$$t && mkdir -p $(SANITIZE_BUILD)/work-$$t && cp fuzz/corpus/$$t/* $(SANITIZE_BUILD)/work-$$t/ && \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s" && \
	  (cd $(SANITIZE_BUILD)/fuzz && ASAN_OPTIONS=detect_leaks=1 ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	     -print_final_stats=1 ../work-$$t 2>&1 | tee fuzz-$$t.log | grep -E "stat::number_of_executed_units|ERROR|crash-" ; \
	   exit $${PIPESTATUS[0]}) || exit 1; \
	done

fuzz-merge:
	@for t in $(FUZZ_TARGETS); do \
	  $(SANITIZE_BUILD)/fuzz/fuzz_$$t -merge=1 fuzz/corpus/$$t $(SANITIZE_BUILD)/work-$$t 2>&1 | tail -1; done

# The main job: every claim of the paper measured end to end (experiments/paper_quick.toml, about
# 10 minutes on 2 cores) and the report in runs/paper-quick/ (index.html, summary.md, results.json,
# figures/). Resumable: run it again after an interruption. `make paper-full` runs the full preset.
demo: build-cli
	$(DALENET) data fetch
	$(DALENET) data verify
	$(DALENET) paper --preset quick --out runs/paper-quick

paper-full: build-cli
	$(DALENET) data fetch
	$(DALENET) paper --preset full --out runs/paper-full

# dalenet vs PyTorch on the same work, in one run (a benchmark, not a test).
bench: deps-torch data
	/usr/bin/python3 bench/table.py --build $(BUILD)
	bash bench/bio_vs_bp.sh $(BUILD)

# Installing (docs/INSTALL.md): the CLI, libdalenet, headers, CMake and pkg-config files, the
# Python package and the docs under PREFIX.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# A Debian package for any x86-64 machine (no -march=native), prefix /usr, from its own build
# folder: $(PKG_BUILD)/dalenet_<version>_amd64.deb. `make check-package` tests it (CI runs it).
PKG_BUILD ?= build-pkg
package: deps
	cmake -S . -B $(PKG_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DDALENET_NATIVE=OFF \
	  -DDALENET_BUILD_TESTS=OFF -DDALENET_BUILD_BENCHMARKS=OFF -DDALENET_WERROR=ON $(CMAKE_FLAGS)
	cmake --build $(PKG_BUILD) -j $(JOBS)
	cd $(PKG_BUILD) && rm -f dalenet_*.deb && cpack -G DEB
	@ls -l $(PKG_BUILD)/dalenet_*.deb

check-package: package
	bash tests/install/test_package.sh $$(ls $(PKG_BUILD)/dalenet_*.deb)

# clang-tidy one file per process, $(JOBS) at a time (xargs exits non-zero if any file has a finding),
# on the compile commands of a tree configured (not built) without precompiled headers: each file
# must compile from its own includes, and clang cannot read GCC's precompiled headers.
LINT_BUILD ?= build-lint
lint: deps
	cmake -S . -B $(LINT_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DDALENET_PCH=OFF $(CMAKE_FLAGS) >/dev/null
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp')
	git ls-files 'src/*.cpp' 'app/*.cpp' 'cli/*.cpp' | xargs -P $(JOBS) -n 1 clang-tidy -p $(LINT_BUILD) --quiet --extra-arg=-Wno-unknown-warning-option

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD) $(LINT_BUILD) $(PKG_BUILD)
