# glfm — the two commands of the README, and a few more for contributors.
#
#   make run     install dependencies if missing, build Release, run `glfm serve` locally
#   make test    install dependencies if missing, build, run every test (ctest), then the unit
#                tests once more under AddressSanitizer + UndefinedBehaviorSanitizer
#   make build   build Release only          make bench   run the benchmarks
#   make fuzz    build the libFuzzer targets with clang++ and run each for FUZZ_SECONDS
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

# The fuzz targets, built by clang++ outside the g++ CMake build (libFuzzer + ASan + UBSan).
#   query_fuzz  the query parser and evaluator; seeds src/index/testdata/query_corpus
#   input_fuzz  SQS message bodies (placement events), JSON parsing and string escaping;
#               seeds src/fleet/testdata/input_corpus
#   document_fuzz  stored instance documents: the start-up decoder against the general one;
#               seeds src/store/testdata/document_corpus
# New inputs go to $(FUZZ_DIR)/<target>_corpus.
FUZZ_CXX = clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Iinclude -Isrc
FUZZ_COMMON = src/common/status.cc src/common/json.cc src/common/codec.cc
FUZZ_QUERY_SOURCES = src/index/query_fuzz.cc src/index/query.cc src/index/index.cc $(FUZZ_COMMON)
FUZZ_INPUT_SOURCES = src/fleet/input_fuzz.cc src/fleet/events.cc $(FUZZ_COMMON)
FUZZ_DOCUMENT_SOURCES = src/store/document_fuzz.cc src/store/store_internal.cc \
  src/common/metrics.cc src/common/log.cc $(FUZZ_COMMON)

$(FUZZ_DIR)/query_fuzz: $(FUZZ_QUERY_SOURCES) $(wildcard src/index/*.h include/glfm/*.h)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CXX) $(FUZZ_QUERY_SOURCES) -lre2 -lsimdjson \
	  $$(pkg-config --libs absl_btree absl_flat_hash_set absl_hash) -o $@

$(FUZZ_DIR)/input_fuzz: $(FUZZ_INPUT_SOURCES) $(wildcard src/fleet/*.h src/common/*.h include/glfm/*.h)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CXX) $(FUZZ_INPUT_SOURCES) -lsimdjson -o $@

$(FUZZ_DIR)/document_fuzz: $(FUZZ_DOCUMENT_SOURCES) \
  $(wildcard src/store/*.h src/common/*.h include/glfm/*.h)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CXX) $(FUZZ_DOCUMENT_SOURCES) -lsimdjson -o $@

# $(call run_fuzz,NAME,MAX_LEN,SEEDS): runs $(FUZZ_DIR)/NAME_fuzz for FUZZ_SECONDS.
define run_fuzz
	@mkdir -p $(FUZZ_DIR)/$(1)_corpus
	$(FUZZ_DIR)/$(1)_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=$(2) -timeout=5 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/$(1)- $(FUZZ_DIR)/$(1)_corpus $(3)
endef

fuzz: deps $(FUZZ_DIR)/query_fuzz $(FUZZ_DIR)/input_fuzz $(FUZZ_DIR)/document_fuzz
	$(call run_fuzz,query,512,src/index/testdata/query_corpus)
	$(call run_fuzz,input,4096,src/fleet/testdata/input_corpus)
	$(call run_fuzz,document,2048,src/store/testdata/document_corpus)

bench: build
	@for b in $(BUILD_DIR)/bench/bench_*; do echo "== $$b"; $$b || exit 1; done

lint: deps $(BUILD_DIR)/build.ninja
	@files=$$(git ls-files '*.h' '*.cc'); clang-format --dry-run -Werror $$files
	@git ls-files 'src/*.cc' 'apps/*.cc' | xargs -P $(JOBS) -n 4 clang-tidy -p $(BUILD_DIR) --quiet

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
