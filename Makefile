# dalenet: the two commands of the README are `make demo` and `make test`; both install what
# they need (Debian packages, as root), fetch and verify data, and build.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DALENET := $(BUILD)/dalenet

.PHONY: all deps deps-torch configure build data test check-sanitize demo bench lint format clean

all: build

deps:
	bash scripts/install-deps.sh

deps-torch:
	bash scripts/install-deps.sh --with-torch

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

data: build
	$(DALENET) data fetch
	$(DALENET) data verify

# Unit tests need no data; the integration tests use the fetched MNIST/Fashion-MNIST.
test: data
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The unit and integration tests again, built with AddressSanitizer + UBSan (a finding fails).
# Not -Werror here: with -fsanitize GCC 12 reports false "uninitialized" warnings inside its own
# AVX-512 headers; warnings are gated by the normal build.
check-sanitize: data
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDALENET_SANITIZE=ON \
	  -DDALENET_BUILD_BENCHMARKS=OFF
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS)

# The main job (grows into the full report as the claim issues land): the backprop baseline on
# MNIST, 784-1000-10 ReLU, Adam, 10 epochs; prints the test accuracy.
demo: data
	$(DALENET) train --config experiments/bp_mnist.toml --out runs/demo --overwrite
	$(DALENET) eval --model runs/demo/model.safetensors --data mnist:test

# dalenet vs PyTorch on the same work, in one run (a benchmark, not a test).
bench: deps-torch data
	bash bench/vs_pytorch.sh $(BUILD)
	bash bench/bio_vs_bp.sh $(BUILD)
	$(BUILD)/bench/dalenet_bench --benchmark_min_time=0.2

lint: configure
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp')
	clang-tidy -p $(BUILD) --quiet --extra-arg=-Wno-unknown-warning-option $$(git ls-files 'src/*.cpp' 'cli/*.cpp')

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) build-asan
