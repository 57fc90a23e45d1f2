# glfm — the two commands of the README, and a few more for contributors.
#
#   make run     install dependencies if missing, build Release, run `glfm serve` locally
#   make test    install dependencies if missing, build, run every test (ctest), then the unit
#                tests once more under AddressSanitizer + UndefinedBehaviorSanitizer
#   make build   build Release only          make bench   run the benchmarks
#   make fuzz    build the query-parser libFuzzer target with clang++ and run it FUZZ_SECONDS
#   make lint    clang-format check + clang-tidy
#   make clean   remove build/

JOBS ?= $(shell nproc)
BUILD_DIR ?= build/release
ASAN_DIR ?= build/asan
GLFM_ARGS ?=
CMAKE_FLAGS ?=
CTEST_FLAGS ?=
CTEST_TIMEOUT ?= 600
FUZZ_DIR ?= build/fuzz
FUZZ_SECONDS ?= 20
# How long `make test` fuzzes (after the ASan unit tests).
TEST_FUZZ_SECONDS ?= 10

.PHONY: all deps build run test test-release test-asan fuzz bench lint format clean

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
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

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

# The query-parser fuzz target, built by clang++ outside the g++ CMake build (libFuzzer +
# ASan + UBSan). Seeds: src/index/testdata/query_corpus; new inputs go to $(FUZZ_DIR)/corpus.
FUZZ_SOURCES = src/index/query_fuzz.cc src/index/query.cc src/index/index.cc \
  src/common/status.cc src/common/json.cc src/common/codec.cc

$(FUZZ_DIR)/query_fuzz: $(FUZZ_SOURCES) $(wildcard src/index/*.h include/glfm/*.h)
	@mkdir -p $(FUZZ_DIR)
	clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Iinclude -Isrc $(FUZZ_SOURCES) -lre2 -lsimdjson $$(pkg-config --libs absl_btree absl_flat_hash_set absl_hash) -o $@

fuzz: deps $(FUZZ_DIR)/query_fuzz
	@mkdir -p $(FUZZ_DIR)/corpus
	$(FUZZ_DIR)/query_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=512 -timeout=5 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus src/index/testdata/query_corpus

bench: build
	@for b in $(BUILD_DIR)/bench/bench_*; do echo "== $$b"; $$b || exit 1; done

lint: deps $(BUILD_DIR)/build.ninja
	@files=$$(git ls-files '*.h' '*.cc'); clang-format --dry-run -Werror $$files
	@git ls-files 'src/*.cc' 'apps/*.cc' | xargs -P $(JOBS) -n 4 clang-tidy -p $(BUILD_DIR) --quiet

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
