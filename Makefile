# glfm — the two commands of the README, and a few more for contributors.
#
#   make run     install dependencies if missing, build Release, run `glfm serve` locally
#   make test    install dependencies if missing, build, run every test (ctest), then the unit
#                tests once more under AddressSanitizer + UndefinedBehaviorSanitizer
#   make build   build Release only          make bench   run the benchmarks
#   make lint    clang-format check + clang-tidy
#   make clean   remove build/

JOBS ?= $(shell nproc)
BUILD_DIR ?= build/release
ASAN_DIR ?= build/asan
GLFM_ARGS ?=
CMAKE_FLAGS ?=
CTEST_FLAGS ?=
CTEST_TIMEOUT ?= 600

.PHONY: all deps build run test test-release test-asan bench lint format clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/apps/glfm/glfm serve --data-dir data $(GLFM_ARGS)

test: deps test-release test-asan

test-release: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout $(CTEST_TIMEOUT) $(CTEST_FLAGS)

$(ASAN_DIR)/build.ninja:
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGLFM_SANITIZE=ON \
	  -DGLFM_ONLY_UNIT_TESTS=ON -DGLFM_BUILD_BENCH=OFF -DGLFM_BUILD_APPS=OFF $(CMAKE_FLAGS)

test-asan: deps $(ASAN_DIR)/build.ninja
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -L unit --timeout $(CTEST_TIMEOUT) $(CTEST_FLAGS)

bench: build
	@for b in $(BUILD_DIR)/bench/bench_*; do echo "== $$b"; $$b || exit 1; done

lint: deps $(BUILD_DIR)/build.ninja
	@files=$$(git ls-files '*.h' '*.cc'); clang-format --dry-run -Werror $$files
	@git ls-files 'src/*.cc' 'apps/*.cc' | xargs -P $(JOBS) -n 4 clang-tidy -p $(BUILD_DIR) --quiet

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
