# Two commands on a fresh Debian 12 machine: `make run` and `make test`.
# Both install the missing Debian packages first, then build with -j2.

BUILD_DIR ?= build
# ccache hashes paths relative to the checkout, so clones share the cache.
export CCACHE_BASEDIR ?= $(CURDIR)
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
SANITIZE ?=

APT_PACKAGES := build-essential cmake pkg-config ccache git \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
  libabsl-dev libssl-dev openssl libyaml-cpp-dev prometheus-cpp-dev libre2-dev \
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev curl \
  prometheus libjemalloc-dev libcpp-httplib-dev libhiredis-dev redis-server

.PHONY: all deps node-deps configure build test run bench demo format clean

all: build

deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Node.js and npm for client/typescript, from Debian when the commands are
# missing (a Node.js from elsewhere that brings its own npm is kept).
node-deps:
	@command -v node >/dev/null && command -v npm >/dev/null || \
	  $(MAKE) --no-print-directory deps APT_PACKAGES="nodejs npm"

# The TypeScript package's dependencies, exactly as its lockfile pins them.
TS_DIR := client/typescript
$(TS_DIR)/node_modules/.package-lock.json: $(TS_DIR)/package-lock.json | node-deps
	cd $(TS_DIR) && npm ci --no-audit --no-fund

$(BUILD_DIR)/CMakeCache.txt: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DVERDICT_SANITIZE=$(SANITIZE) -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build $(TS_DIR)/node_modules/.package-lock.json
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600

run: build
	./$(BUILD_DIR)/server/verdictd --policies policies

# A scripted agent session against the example MCP server of client/typescript,
# gated by a real verdictd on policies/.
demo: build $(TS_DIR)/node_modules/.package-lock.json
	cd $(TS_DIR) && VERDICT_BUILD_DIR=$(abspath $(BUILD_DIR)) npm run demo

bench: build
	./$(BUILD_DIR)/bench/engine_bench --benchmark_min_time=0.5

format:
	find server client tests bench fuzz -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(TS_DIR)/dist $(TS_DIR)/src/gen

# `make fuzz FUZZ_SECONDS=60`: builds the libFuzzer targets of fuzz/ with
# clang, ASan and UBSan into FUZZ_BUILD_DIR and runs each for FUZZ_SECONDS.
# New inputs go to a scratch corpus under FUZZ_BUILD_DIR/fuzz-work (kept
# between runs), never into fuzz/corpus; crashes to fuzz-work/findings.
FUZZ_BUILD_DIR ?= build-fuzz-clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= policy_compiler condition jwt grant_token x509_svid jwks strict_json base64url
FUZZ_WORK = $(FUZZ_BUILD_DIR)/fuzz-work
# The dictionaries (fuzz/dictionaries/NAME.dict) each target runs with.
FUZZ_DICTS_policy_compiler := policy_compiler cel
FUZZ_DICTS_condition := cel
FUZZ_DICTS_jwt := jwt
FUZZ_DICTS_grant_token := jwt
FUZZ_DICTS_jwks := json
FUZZ_DICTS_strict_json := json

.PHONY: fuzz

fuzz: deps
	@$(MAKE) --no-print-directory deps APT_PACKAGES="clang libclang-rt-14-dev"
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD_DIR) \
	  -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DVERDICT_FUZZ=ON
	cmake --build $(FUZZ_BUILD_DIR) -j$(JOBS) --target $(FUZZ_TARGETS:%=%_fuzzer)
	@mkdir -p $(FUZZ_WORK)/findings
	@$(foreach t,$(FUZZ_TARGETS),mkdir -p $(FUZZ_WORK)/corpus/$(t) && \
	  cat /dev/null $(FUZZ_DICTS_$(t):%=fuzz/dictionaries/%.dict) \
	  > $(FUZZ_WORK)/$(t).dict;)
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  dict=""; [ -s $(FUZZ_WORK)/$$t.dict ] && dict=-dict=$(FUZZ_WORK)/$$t.dict; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s (log: $(FUZZ_WORK)/$$t.log)"; \
	  if $(FUZZ_BUILD_DIR)/fuzz/$${t}_fuzzer $$dict \
	      -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 \
	      -artifact_prefix=$(FUZZ_WORK)/findings/$$t- \
	      $(FUZZ_WORK)/corpus/$$t fuzz/corpus/$$t > $(FUZZ_WORK)/$$t.log 2>&1; then \
	    grep -E '^#[0-9]+[[:space:]]+DONE' $(FUZZ_WORK)/$$t.log | tail -n 1; \
	    grep -E '^stat::average_exec_per_sec' $(FUZZ_WORK)/$$t.log; \
	  else \
	    tail -n 40 $(FUZZ_WORK)/$$t.log; failed="$$failed $$t"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then \
	  echo "fuzz: findings in$$failed (inputs in $(FUZZ_WORK)/findings)"; exit 1; \
	fi
