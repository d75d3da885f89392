# The two commands a newcomer runs on a fresh Debian 12 machine:
#   make run   - install what is missing, fetch MNIST, build Release, run the chapter
#   make test  - the same set-up (plus Chromium for the report test), then build and run every test
BUILD ?= build/release
JOBS  ?= $(shell nproc)

.PHONY: run test setup test-setup build
run: setup build
	./scripts/run.sh $(BUILD)

test: test-setup build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

setup:
	./scripts/setup.sh

# The report test renders the chapter's HTML in headless Chromium; xmllint checks the SVGs.
test-setup:
	EMBER_EXTRA_PACKAGES="chromium libxml2-utils" ./scripts/setup.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)
