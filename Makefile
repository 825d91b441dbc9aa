# imdsfleet build, test and demo targets. Plain go commands; nothing hidden.
GO        ?= go
BIN       := bin/imdsfleet
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2

.PHONY: all build test test-short lint tidy-check demo demo-rollout bench bench-quick clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/imdsfleet

# The whole suite: unit, end-to-end against the simulated AWS, the AWS CLI
# agreement tests and the moto tests (these two skip, saying so, when the
# tools are absent).
# cmd/imdsfleet's end-to-end tests mostly wait (on the simulated AWS's
# latency, subprocesses, the AWS CLI): the package is run as two processes,
# its apply/rollout tests (CMD_TESTS_A) beside the rest, next to the other
# packages, so that the suite's wall time is not that one package's.
CMD_TESTS_A := ^Test(Apply|Readme|Status|Rollback)

test:
	$(GO) vet ./...
	@$(GO) test -race -count=1 -timeout 15m $$($(GO) list ./... | grep -v '/cmd/imdsfleet$$') & p1=$$!; \
	$(GO) test -race -count=1 -timeout 15m -run '$(CMD_TESTS_A)' ./cmd/imdsfleet & p2=$$!; \
	$(GO) test -race -count=1 -timeout 15m -skip '$(CMD_TESTS_A)' ./cmd/imdsfleet & p3=$$!; \
	rc=0; wait $$p1 || rc=1; wait $$p2 || rc=1; wait $$p3 || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see the FAIL lines above)"; fi; exit $$rc

test-short:
	$(GO) test -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

tidy-check:
	cp go.mod /tmp/imdsfleet.go.mod; cp go.sum /tmp/imdsfleet.go.sum
	$(GO) mod tidy
	@if ! git diff --quiet -- go.mod go.sum; then cp /tmp/imdsfleet.go.mod go.mod; cp /tmp/imdsfleet.go.sum go.sum; echo "go mod tidy changes go.mod/go.sum: run it and commit"; exit 1; fi

# The main job against the embedded simulated fleet (testdata/fleets/demo.json):
# start `imdsfleet sim`, scan every Region, write demo-out/report.{json,csv,md,html},
# print the table, then the guardrails summary (policies in demo-out/guardrails/).
# The fleet has one Region that always fails (AuthFailure), so the
# scan's exit code is 4 (incomplete); the demo accepts exactly that.
demo: build
	@mkdir -p demo-out
	@set -e; \
	$(BIN) sim --fleet testdata/fleets/demo.json --addr 127.0.0.1:0 >demo-out/sim.env 2>demo-out/sim.log & sim=$$!; \
	trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null' EXIT; \
	for i in $$(seq 1 100); do grep -q '^AWS_REGION=' demo-out/sim.env 2>/dev/null && break; sleep 0.1; done; \
	grep -q '^AWS_REGION=' demo-out/sim.env || { echo "imdsfleet sim did not start:"; cat demo-out/sim.log; exit 1; }; \
	set -a; . ./demo-out/sim.env; set +a; \
	export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true; \
	echo "simulated AWS at $$AWS_ENDPOINT_URL (fleet testdata/fleets/demo.json)"; \
	rc=0; $(BIN) scan --regions all \
		--output demo-out/report.json --output demo-out/report.csv \
		--output demo-out/report.md --output demo-out/report.html || rc=$$?; \
	echo; echo "scan exit code $$rc (4 = incomplete: the demo fleet's sa-east-1 always fails)"; \
	echo "reports: demo-out/report.json demo-out/report.csv demo-out/report.md demo-out/report.html"; \
	test $$rc -eq 0 -o $$rc -eq 4; \
	echo; mkdir -p demo-out/guardrails; \
	$(BIN) guardrails --report demo-out/report.json --out-dir demo-out/guardrails; \
	echo "guardrail policies: demo-out/guardrails/"

# A canary rollout on the demo fleet, with the simulated clock 720 times as
# fast (a 1h bake takes 5 s): scan, write the plan, apply it in three waves
# (a canary per workload, 25%, 100%). The plan leaves out the Auto Scaling
# group "staging", scaled to zero: its stopped instances publish no metric, so
# a bake could not watch them and would hold the rollout (exit 7). app-staging-03 (i-0de000000000000d9, in
# wave 2) hides an IMDSv1 caller that starts 10 minutes after enforcement, so
# wave 2's bake sees MetadataNoTokenRejected, the rollout stops and wave 2 is
# rolled back: apply exits 6, which the demo expects. Then status.
demo-rollout: build
	@mkdir -p demo-out/rollout
	@rm -f demo-out/rollout/*
	@set -e; \
	$(BIN) sim --fleet testdata/fleets/demo.json --addr 127.0.0.1:0 --time-scale 720 \
		--hidden-caller i-0de000000000000d9=10m >demo-out/rollout/sim.env 2>demo-out/rollout/sim.log & sim=$$!; \
	trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null' EXIT; \
	for i in $$(seq 1 100); do grep -q '^IMDSFLEET_SIM_CLOCK=' demo-out/rollout/sim.env 2>/dev/null && break; sleep 0.1; done; \
	grep -q '^IMDSFLEET_SIM_CLOCK=' demo-out/rollout/sim.env || { echo "imdsfleet sim did not start:"; cat demo-out/rollout/sim.log; exit 1; }; \
	set -a; . ./demo-out/rollout/sim.env; set +a; \
	export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true; \
	echo "simulated AWS at $$AWS_ENDPOINT_URL, clock x720 (fleet testdata/fleets/demo.json, hidden caller on i-0de000000000000d9)"; \
	rc=0; $(BIN) scan --regions all --output demo-out/rollout/scan.json -q >/dev/null || rc=$$?; \
	test $$rc -eq 0 -o $$rc -eq 4; \
	$(BIN) remediate --report demo-out/rollout/scan.json --exclude-tag aws:autoscaling:groupName=staging --plan-out demo-out/rollout/plan.json -q >/dev/null; \
	echo "plan: demo-out/rollout/plan.json"; \
	rc=0; $(BIN) apply demo-out/rollout/plan.json --waves 1,25%,100% --bake 1h --rate 20 --sim-clock "$$IMDSFLEET_SIM_CLOCK" \
		--journal demo-out/rollout/rollout.jsonl --live --yes --output demo-out/rollout/results.json || rc=$$?; \
	echo; echo "apply exit code $$rc (6 = stopped by breakage, as the hidden caller should make it)"; \
	echo; $(BIN) status --journal demo-out/rollout/rollout.jsonl; \
	test $$rc -eq 6

# Performance figures (README "Performance"): scan calls against the minimum,
# wall time against the lower bound, peak memory, the peers' per-instance
# strategy, and the remediation rate. Takes a few minutes.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./internal/bench/
	$(GO) test -run '^$$' -bench BenchmarkRemediateRate -benchtime 1x ./remediate/
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/sim/fleet/

# The same without the 100,000-instance fleet.
bench-quick:
	$(GO) test -short -run '^$$' -bench . -benchtime 1x ./internal/bench/

clean:
	rm -rf bin demo-out
