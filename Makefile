# Conversa: `make run` starts everything for development, `make test` runs every check and test.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin
GO ?= go
TOOL := $(GO) tool -modfile=tools/go.mod
BIN := bin/conversa

.PHONY: run test check lint generate drift unit bench build tools clean

## run: start a private PostgreSQL under .data/ (unless DATABASE_URL is set), migrate, seed the demo account, serve
run: build
	./$(BIN) dev

build:
	$(GO) build -o $(BIN) ./cmd/conversa

## test: every check, then every test against a real PostgreSQL
test: check unit

## check: formatting, vet, staticcheck, go.mod tidiness, and drift of the generated sqlc code
check: tools
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	$(GO) mod tidy -diff
	$(TOOL) sqlc diff
	@echo "checks passed"

## unit: go test (race detector on) with TEST_DATABASE_URL pointing at PostgreSQL: the one on
## 127.0.0.1:5432 if it answers and CONVERSA_NO_SYSTEM_PG is not 1, else a private cluster
unit: build
	./$(BIN) with-postgres -- $(GO) test -race -count=1 ./...

## tools: build sqlc and staticcheck once (the first sqlc build compiles C and takes minutes)
tools:
	$(GO) build -modfile=tools/go.mod -o /dev/null github.com/sqlc-dev/sqlc/cmd/sqlc honnef.co/go/tools/cmd/staticcheck

## generate: regenerate the sqlc code and openapi.yaml
generate:
	$(TOOL) sqlc generate
	$(GO) run ./cmd/conversa openapi > openapi.yaml

## bench: the HTTP and PostgreSQL figures of docs/benchmarks.md (seeds 1 000 000 contacts), on a
## private durable PostgreSQL with the production settings of internal/pgdb/settings.go
bench: build
	./$(BIN) with-postgres --durable -- $(GO) run ./cmd/loadgen -conversa ./$(BIN) $(BENCH_FLAGS)

clean:
	rm -rf bin
