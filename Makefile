# Two commands on a fresh Debian 12 machine: `make run` and `make test`.
# Both install the missing Debian packages first, then build with -j2.

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= 2
SANITIZE ?=

APT_PACKAGES := build-essential cmake pkg-config ccache git \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
  libabsl-dev libssl-dev openssl libyaml-cpp-dev prometheus-cpp-dev libre2-dev \
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev curl \
  prometheus

.PHONY: all deps configure build test run bench format clean

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

$(BUILD_DIR)/CMakeCache.txt: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DVERDICT_SANITIZE=$(SANITIZE) -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600

run: build
	./$(BUILD_DIR)/server/verdictd --policies policies

bench: build
	./$(BUILD_DIR)/bench/engine_bench --benchmark_min_time=0.5

format:
	find server client tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
