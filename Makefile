# The two commands a newcomer runs on a fresh Debian 12 machine:
#   make run   - install what is missing, fetch MNIST, build Release, run the chapter
#   make test  - the same set-up, then build and run every test
BUILD ?= build/release
JOBS  ?= $(shell nproc)

.PHONY: run test setup build
run: build
	./scripts/run.sh $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

setup:
	./scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)
