# Thin wrapper over CMake presets. `make help` lists the targets.
PRESET ?= release
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

FUZZ_SECONDS ?= 30

# ccache: paths relative to the checkout and no build-dir hash, so every
# clone (CI's among them) shares one cache.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1

.PHONY: help deps configure build test fuzz sanitize bench demo checklist clean

help:
	@echo "make deps       install Debian packages (scripts/install-deps.sh)"
	@echo "make build      configure + build ($(BUILD_DIR), Release)"
	@echo "make test       build, then run every test with ctest"
	@echo "make fuzz       build the libFuzzer targets (clang-14, ASan+UBSan, build-fuzz/)"
	@echo "                and run each for FUZZ_SECONDS (default 30); fails on a finding"
	@echo "make sanitize   build and run the TSan suites (build-tsan/) and the ASan+UBSan"
	@echo "                suites (build-asan/); fails on any sanitizer report"
	@echo "make bench      build, then run the micro-benchmarks"
	@echo "make checklist  run the whole benchmarking checklist on CPU"

deps:
	bash scripts/install-deps.sh

configure:
	@test -f $(BUILD_DIR)/CMakeCache.txt || cmake --preset $(PRESET)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Every test, then the engine tests again with the vector paths capped
# (oneDNN's and our kernels'), so the AVX2 and baseline paths are tested on
# whatever CPU this is (tests that need a feature the cap removes skip).
test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)
	ONEDNN_MAX_CPU_ISA=AVX2 CLIPSERVE_MAX_CPU_ISA=avx2 ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -L engine
	ONEDNN_MAX_CPU_ISA=SSE41 CLIPSERVE_MAX_CPU_ISA=baseline ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -L engine

# The fuzz targets of tests/fuzz under libFuzzer (preset `fuzz`, its own
# build dir, no LibTorch), FUZZ_SECONDS each; `make test` replays their
# corpora without clang.
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD_JOBS=$(JOBS) bash scripts/fuzz.sh

# The sanitizer suites (issue 9): presets tsan and asan, each building only
# the test executables it runs (scripts/sanitize.sh says which and why).
sanitize:
	SANITIZE_JOBS=$(JOBS) bash scripts/sanitize.sh

bench: build
	bash scripts/run-bench.sh $(BUILD_DIR)

checklist:
	bash scripts/run-checklist.sh

clean:
	rm -rf $(BUILD_DIR)
