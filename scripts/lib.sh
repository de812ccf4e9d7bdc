# Shared helpers for scripts/*; source it, do not run it.
# shellcheck shell=bash
DEV="$ROOT/.dev"
mkdir -p "$DEV"

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Starts Postgres and Redis (installing them when missing) and exports their URLs.
ensure_services() {
  step "starting Postgres and Redis (scripts/services up)"
  "$ROOT/scripts/services" up >/dev/null
  eval "$("$ROOT/scripts/services" env)"
}

# The benchmarks' services: Redis and the dev Postgres as above, and a second Postgres
# cluster with production durability (fsync, synchronous_commit, full_page_writes on;
# PG_DURABLE=1 scripts/services), whose URL becomes DATABASE_URL. PG_PIDFILE names
# its postmaster's pid file (the benches count its CPU).
ensure_bench_services() {
  ensure_services
  step "starting the benchmarks' Postgres with production durability (PG_DURABLE=1 scripts/services up)"
  PG_DURABLE=1 "$ROOT/scripts/services" up >/dev/null
  eval "$(PG_DURABLE=1 "$ROOT/scripts/services" env)"
  PG_PIDFILE="$DEV/pg-durable/postmaster.pid"
}

# Makes sure cargo is on PATH (rustup installs it under ~/.cargo/bin).
ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || { echo "cargo is required (install Rust with rustup)" >&2; exit 1; }
}

# Installs Debian packages for commands that are missing (as root).
ensure_commands() {
  local cmd missing=()
  for cmd in "$@"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd"); done
  (( ${#missing[@]} )) || return 0
  [[ $EUID -eq 0 ]] || { echo "missing commands: ${missing[*]}; install them" >&2; exit 1; }
  step "installing ${missing[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Debian's Chromium and its WebDriver, for the console's browser tests
# (the packages are chromium and chromium-driver; the commands chromium and chromedriver).
ensure_browser() {
  command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && return 0
  [[ $EUID -eq 0 ]] || { echo "missing chromium/chromedriver; install chromium and chromium-driver" >&2; exit 1; }
  step "installing chromium and chromium-driver with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
}

# The pinned npm test tools of the browser tests (axe-core), from tests/browser/package-lock.json.
ensure_npm_tools() {
  [[ -f "$ROOT/tests/browser/node_modules/axe-core/axe.min.js" ]] && return 0
  ensure_commands npm
  step "installing the browser tests' npm tools (npm ci in tests/browser)"
  npm ci --prefix "$ROOT/tests/browser" --no-audit --no-fund >&2
}

# Drops and recreates a database on the local server.
fresh_database() {
  local admin="${DATABASE_URL%/*}/postgres"
  psql -q "$admin" -c "drop database if exists $1 with (force)" -c "create database $1" >/dev/null
}

# The local encryption key for secrets at rest, created once under .dev/.
encryption_key() {
  local f="$DEV/encryption.key"
  if [[ ! -s "$f" ]]; then
    (umask 077; head -c 32 /dev/urandom | base64 >"$f")
  fi
  cat "$f"
}

# Waits (up to 60 s) until a URL answers 2xx.
wait_http() {
  local url="$1" what="$2" deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if (( SECONDS > deadline )); then echo "timed out waiting for $what at $url" >&2; exit 1; fi
    sleep 0.2
  done
}

# Reads a top-level string field from JSON on stdin (no jq needed).
json_field() {
  sed -n "s/^ *\"$1\": \"\\([^\"]*\\)\".*/\\1/p" | head -n1
}

# Reads a top-level number field from JSON on stdin (no jq needed).
json_number() {
  sed -n "s/^{\"$1\":\([0-9]*\).*/\1/p" | head -n1
}
