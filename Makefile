# Thin wrapper over CMake presets. `make help` lists the targets.
PRESET ?= release
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: help deps configure build test bench demo checklist clean

help:
	@echo "make deps       install Debian packages (scripts/install-deps.sh)"
	@echo "make build      configure + build ($(BUILD_DIR), Release)"
	@echo "make test       build, then run every test with ctest"
	@echo "make bench      build, then run the micro-benchmarks"
	@echo "make checklist  run the whole benchmarking checklist on CPU"

deps:
	bash scripts/install-deps.sh

configure:
	@test -f $(BUILD_DIR)/CMakeCache.txt || cmake --preset $(PRESET)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

bench: build
	bash scripts/run-bench.sh $(BUILD_DIR)

checklist:
	bash scripts/run-checklist.sh

clean:
	rm -rf $(BUILD_DIR)
