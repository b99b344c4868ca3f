# Shared by the scripts: the project venv, a free port, and the emulator's life cycle.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
# Where cargo puts the dev binaries (CARGO_TARGET_DIR may point elsewhere).
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Creates .venv and installs scripts/requirements.txt once (again when the file changes).
ensure_venv() {
  local stamp="$VENV/.requirements"
  if [ -x "$VENV/bin/python" ] && cmp -s "$ROOT/scripts/requirements.txt" "$stamp"; then
    return
  fi
  log "installing the emulator and tools into .venv (once)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/scripts/requirements.txt"
  cp "$ROOT/scripts/requirements.txt" "$stamp"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Dummy credentials and region for the emulator; it checks neither.
aws_env() {
  export AWS_ENDPOINT_URL="http://127.0.0.1:$1"
  export AWS_REGION=${AWS_REGION:-us-east-1}
  export AWS_DEFAULT_REGION=$AWS_REGION
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local}
  export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
}

# Starts the emulator (scripts/emulator.py: moto, one request at a time) on 127.0.0.1:$1 in the
# background and waits until it answers.
# Sets EMULATOR_PID; the caller stops it with stop_emulator (the scripts trap EXIT).
start_emulator() {
  local port=$1 logfile=${2:-/dev/null}
  "$VENV/bin/python" "$ROOT/scripts/emulator.py" --port "$port" >"$logfile" 2>&1 &
  EMULATOR_PID=$!
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/"; then
      return 0
    fi
    if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
      log "the emulator exited; see $logfile"
      return 1
    fi
    sleep 0.1
  done
  log "the emulator did not answer on port $port"
  return 1
}

stop_emulator() {
  if [ -n "${EMULATOR_PID:-}" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
    kill "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
  fi
}

# cargo-lambda and zig (PyPI) in a venv of their own (.tools/lambda, gitignored), and the
# arm64 rustup target; puts that venv first on PATH, where `cargo lambda` and `sam build` find
# them (cargo-lambda finds zig beside itself).
LAMBDA_TOOLS="cargo-lambda==1.9.* ziglang==0.17.*"
ensure_lambda_tools() {
  local venv="$ROOT/.tools/lambda"
  if ! [ -x "$venv/bin/cargo-lambda" ] || [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$LAMBDA_TOOLS" ]; then
    log "installing cargo-lambda and zig into .tools/lambda (once)"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/pip" install -q --disable-pip-version-check $LAMBDA_TOOLS
    echo "$LAMBDA_TOOLS" >"$venv/.requirements"
  fi
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    log "rustup target add aarch64-unknown-linux-gnu (once)"
    rustup target add aarch64-unknown-linux-gnu >/dev/null
  fi
  export PATH="$venv/bin:$PATH"
}
