# Sourced by deploy/dev/api-check and deploy/dev/browser-check: a Python tool in the tests'
# virtualenv, a fresh database on the dev server, and a `sundial` server on a random port,
# stopped when the script exits. Needs `here` (deploy/dev) and the repository as the working folder.

venv=.build/test-python

# python_with MODULE PACKAGE: the virtualenv, with PACKAGE (from PyPI) if MODULE is missing.
python_with() {
  if ! "$venv/bin/python" -c "import $1" 2>/dev/null; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q "$2"
  fi
}

# fresh_database NAME: the database NAME made anew on the dev primary and migrated; SUNDIAL_DATABASE_URL
# points at it (the primary alone) and `bin` at the debug build of sundial.
fresh_database() {
  eval "$("$here/devdb" env)"
  swift build --product sundial >/dev/null
  swift build --product sundial-supervise >/dev/null
  bin=$(swift build --show-bin-path)/sundial
  "$here/devdb" sql primary -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1 CHARACTER SET utf8mb4"
  export SUNDIAL_DATABASE_URL=${SUNDIAL_DATABASE_URL/\/sundial\?/\/$1?} SUNDIAL_REPLICA_URLS=
  "$bin" migrate >/dev/null 2>&1
}

# start_server ARGS...: `sundial ARGS... --web-listen 127.0.0.1:$port` in the background, logged to
# $server_log, stopped on exit; returns once it answers.
start_server() {
  port=$((20000 + RANDOM % 20000))
  server_log=$(mktemp)
  "$bin" "$@" --web-listen "127.0.0.1:$port" >"$server_log" 2>&1 &
  server=$!
  trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$server_log"' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/login" >/dev/null && return 0; sleep 0.1; done
  echo "the server did not answer; its log:" >&2
  cat "$server_log" >&2
  return 1
}

# finish NAME STATUS: the server's log after a failure, and the status.
finish() {
  if [ "$2" -ne 0 ]; then
    echo "$1: failed (above); the server's log:" >&2
    tail -50 "$server_log" >&2
  fi
  exit "$2"
}
