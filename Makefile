# vmx-harness: build, run and test. Every target installs what it needs.
NPM ?= npm
# The main job: every suite over the whole matrix (levels x strategies x deliveries x CPU models).
ARGS ?= --immediate-exit all --delivery all
SOURCES := $(shell find arch kvm harness tests -name '*.ts' -not -path 'tests/tap/*' 2>/dev/null)

.PHONY: all build run test bench clean

all: build

# npm ci when node_modules is missing or older than the lock file.
node_modules/.installed: package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

dist/.built: node_modules/.installed tsconfig.json $(SOURCES)
	$(NPM) run --silent build
	@touch $@

build: dist/.built

run: dist/.built
	node dist/tests/vmx-harness.js $(ARGS)

test: node_modules/.installed
	npx tsc -p tsconfig.json --noEmit
	npx tap

bench: dist/.built
	node dist/tests/bench.js

clean:
	rm -rf dist .tap coverage
