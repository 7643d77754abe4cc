#!/usr/bin/env bash
# Makes sure the servers the tests talk to are up (README.md, "Set-up"):
# Redis :6379, NATS with JetStream :4222, PostgreSQL :5432 and FerretDB :27017 (backed by
# that PostgreSQL). Cheap when everything already runs; starts whatever is down, waits for it
# with a deadline, and exits non-zero naming the service and its log when one cannot start.
# Runs before vitest in `npm test`, also as root in a fresh CI clone.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SVC_DIR="$ROOT/.services"
DEADLINE_S=${SERVICES_DEADLINE_S:-30}
HOST=127.0.0.1

FERRETDB_MODULE=github.com/FerretDB/FerretDB
FERRETDB_VERSION=v1.24.2
FERRETDB_LOG="$SVC_DIR/ferretdb.log"
FERRETDB_PID="$SVC_DIR/ferretdb.pid"
FERRETDB_BUILD_LOG="$SVC_DIR/ferretdb-build.log"
TOXIPROXY_PACKAGE=github.com/Shopify/toxiproxy/v2/cmd/server
TOXIPROXY_VERSION=v2.5.0
TOXIPROXY_BUILD_LOG="$SVC_DIR/toxiproxy-build.log"
HELM_PACKAGE=helm.sh/helm/v4/cmd/helm
HELM_VERSION=v4.3.2
HELM_BUILD_LOG="$SVC_DIR/helm-build.log"
REDIS_LOG=/var/log/redis/ci.log
NATS_LOG=/var/log/nats-server.log

say() { echo "services: $*"; }

LOG_OFFSET=0

# die SERVICE MESSAGE [LOG]: the tail of the log goes to stderr because CI keeps only output.
die() {
  echo "services: ERROR: $1: $2" >&2
  if [[ -n ${3:-} ]]; then
    echo "services: see $3" >&2
    if [[ -r $3 ]]; then
      # Only what this run appended, when known: older runs' lines would mislead.
      local from=$((LOG_OFFSET + 1))
      (($(stat -c %s "$3") >= LOG_OFFSET)) || from=1
      tail -c "+$from" "$3" | tail -n 20 | sed 's/^/  | /' >&2
    fi
  fi
  exit 1
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Health checks answer "is it really that server", not just "is the port taken".
redis_healthy() {
  (
    exec 3<>"/dev/tcp/$HOST/6379"
    printf 'PING\r\n' >&3
    IFS= read -r -t 2 line <&3
    [[ $line == +PONG* ]]
  ) 2>/dev/null
}

# NATS greets every client with an INFO line; it says "jetstream":true only when enabled.
NATS_INFO=
nats_healthy() {
  NATS_INFO=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/$HOST/4222" || exit 1
    IFS= read -r -t 2 line <&3 || exit 1
    printf '%s' "$line"
  ) || return 1
  [[ $NATS_INFO == INFO* ]] || return 1
  if [[ $NATS_INFO != *'"jetstream":true'* ]]; then
    die nats "a NATS server on $HOST:4222 runs without JetStream; restart it with -js" "$NATS_LOG"
  fi
}

postgres_healthy() { pg_isready -q -h "$HOST" -p 5432 -t 2 >/dev/null 2>&1; }

# One OP_MSG {ping: 1} round trip: proves the MongoDB wire protocol, and with it the backend.
ferretdb_healthy() {
  node -e '
    const net = require("node:net");
    const bson = (parts) => { const b = Buffer.concat([...parts, Buffer.from([0])]);
      const len = Buffer.alloc(4); len.writeInt32LE(b.length + 4); return Buffer.concat([len, b]); };
    const cstr = (s) => Buffer.from(s + "\0");
    const i32 = (n) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; };
    const doc = bson([Buffer.from([0x10]), cstr("ping"), i32(1),
      Buffer.from([0x02]), cstr("$db"), i32(6), cstr("admin")]);
    const body = Buffer.concat([i32(1), i32(0), i32(2013), i32(0), Buffer.from([0]), doc]);
    const msg = Buffer.concat([i32(body.length + 4), body]);
    const sock = net.connect(27017, "127.0.0.1", () => sock.write(msg));
    let buf = Buffer.alloc(0);
    const done = (ok) => { sock.destroy(); process.exit(ok ? 0 : 1); };
    setTimeout(() => done(false), 2000).unref();
    sock.on("error", () => done(false));
    sock.on("close", () => done(false));
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4 || buf.length < buf.readInt32LE(0)) return;
      const at = buf.indexOf(Buffer.from("\x01ok\0"), 21);
      done(buf.readInt32LE(12) === 2013 && at > 0 && buf.readDoubleLE(at + 4) === 1);
    });
  ' 2>/dev/null
}

# Starting is serialized across concurrent `npm test` runs; the lock is taken only when
# something is down, so the common path stays lock-free. Started daemons must not inherit fd 9.
LOCKED=0
take_lock() {
  if ((LOCKED)); then return; fi
  exec 9>"$SVC_DIR/lock"
  flock -w 300 9 || die lock "another services.sh run held $SVC_DIR/lock for 300 s"
  LOCKED=1
}

start_redis() {
  command -v redis-server >/dev/null || die redis "redis-server is not installed"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile "$REDIS_LOG" 9>&- >/dev/null ||
    die redis "redis-server failed to start" "$REDIS_LOG"
}

start_nats() {
  [[ -x /usr/sbin/nats-server ]] || die nats "/usr/sbin/nats-server is not installed"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l "$NATS_LOG" 9>&- >/dev/null ||
    die nats "start-stop-daemon could not start nats-server" "$NATS_LOG"
}

PG_VERSION=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
PG_LOG="/var/log/postgresql/postgresql-$PG_VERSION-main.log"
start_postgres() {
  [[ -n $PG_VERSION ]] || die postgres "no cluster under /etc/postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start 9>&- >/dev/null 2>&1 ||
    die postgres "pg_ctlcluster $PG_VERSION main start failed" "$PG_LOG"
}

# go_bin [SERVICE]: the Go toolchain, or an error naming the service that needs it.
go_bin() {
  if command -v go >/dev/null; then command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go
  else die "${1:-ferretdb}" "go is needed to build ${1:-ferretdb} but is neither on PATH nor /usr/local/go/bin"
  fi
}

# `go install .../cmd/ferretdb@v1.24.2` yields a binary that panics at startup: the module
# zip lacks build/version/version.txt (generated in FerretDB's own repo). So build from a copy
# of the module source with that file written. The GOPATH bin directory is the cache.
FERRETDB_BIN=
ensure_ferretdb_binary() {
  local go gopath src tmp
  go=$(go_bin)
  gopath=$("$go" env GOPATH)
  FERRETDB_BIN="${gopath%%:*}/bin/ferretdb"
  if "$FERRETDB_BIN" --version 2>/dev/null | grep -q "version: $FERRETDB_VERSION\$"; then return; fi
  say "building ferretdb $FERRETDB_VERSION into $FERRETDB_BIN (about 45 s, once)"
  tmp=$(mktemp -d)
  {
    src=$(cd "$tmp" && "$go" mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p') &&
      [[ -n $src ]] &&
      cp -R "$src" "$tmp/src" && chmod -R u+w "$tmp/src" &&
      echo "$FERRETDB_VERSION" >"$tmp/src/build/version/version.txt" &&
      mkdir -p "$(dirname "$FERRETDB_BIN")" &&
      (cd "$tmp/src" && "$go" build -tags ferretdb_no_sqlite -trimpath -buildvcs=false \
        -o "$FERRETDB_BIN.tmp.$$" ./cmd/ferretdb) &&
      mv -f "$FERRETDB_BIN.tmp.$$" "$FERRETDB_BIN"
  } >"$FERRETDB_BUILD_LOG" 2>&1 || {
    rm -rf "$tmp" "$FERRETDB_BIN.tmp.$$"
    LOG_OFFSET=0 # the build log is rewritten on each build
    die ferretdb "building FerretDB $FERRETDB_VERSION failed" "$FERRETDB_BUILD_LOG"
  }
  rm -rf "$tmp"
}

# A Go tool built once with `go install` and cached in the Go bin folder. Neither tool reports
# its own version usefully when built from source ("git", "v4.3"), so the cache is checked
# against the module version `go version -m` recorded in the binary.
# Args: name, binary name, package, module, version, build log, how long a build takes.
ensure_go_tool() {
  local name=$1 binary=$2 package=$3 module=$4 version=$5 log=$6 takes=$7 go gopath bin
  go=$(go_bin "$name")
  gopath=$("$go" env GOPATH)
  bin="${gopath%%:*}/bin/$binary"
  if [[ -x $bin ]] && "$go" version -m "$bin" 2>/dev/null |
    grep -Eq "^[[:space:]]+mod[[:space:]]+${module//./\\.}[[:space:]]+$version[[:space:]]"; then
    say "$name ok ($bin)"
    return
  fi
  take_lock
  say "installing $name $version into $bin ($takes, once)"
  LOG_OFFSET=0 # the build log is rewritten on each build
  "$go" install "$package@$version" >"$log" 2>&1 ||
    die "$name" "go install $package@$version failed" "$log"
  [[ -x $bin ]] || die "$name" "go install succeeded but $bin is missing" "$log"
  say "$name installed"
}

# Toxiproxy for the fault-injection tests (test/faults/): each test file starts a private
# server (test/helpers/toxiproxy.ts), so only the binary is needed here (`go install` names it
# `server`).
ensure_toxiproxy_binary() {
  ensure_go_tool toxiproxy server "$TOXIPROXY_PACKAGE" github.com/Shopify/toxiproxy/v2 "$TOXIPROXY_VERSION" "$TOXIPROXY_BUILD_LOG" "about 30 s"
}

# Helm for the chart's tests (test/unit/helm-chart.test.ts runs `helm lint` and `helm template`).
ensure_helm_binary() {
  ensure_go_tool helm helm "$HELM_PACKAGE" helm.sh/helm/v4 "$HELM_VERSION" "$HELM_BUILD_LOG" "about 3 min"
}

ferretdb_db_exists() {
  [[ $(psql -h "$HOST" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'" 2>/dev/null) == 1 ]]
}

# A pid from an earlier run that still names a live ferretdb, or nothing.
ferretdb_pid() {
  local pid
  pid=$(cat "$FERRETDB_PID" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == ferretdb ]] && echo "$pid"
}

STARTED_PID=
start_ferretdb() {
  local pid
  # Ours but not answering: hung, so replace it rather than fight it for the port.
  if pid=$(ferretdb_pid); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  if port_open 27017; then
    die ferretdb "port 27017 is taken by something that does not answer as MongoDB"
  fi
  ensure_ferretdb_binary
  if ! ferretdb_db_exists; then
    createdb -h "$HOST" -U postgres ferretdb 2>>"$FERRETDB_LOG" || ferretdb_db_exists ||
      die ferretdb "could not create the PostgreSQL database 'ferretdb'" "$FERRETDB_LOG"
  fi
  echo "--- $(date -u +%FT%TZ) services.sh starting $FERRETDB_BIN" >>"$FERRETDB_LOG"
  # setsid: own session, so it outlives this script and CI step; it execs, so $! is FerretDB.
  setsid nohup "$FERRETDB_BIN" --handler=postgresql \
    --postgresql-url="postgres://$HOST:5432/ferretdb" --listen-addr="$HOST:27017" \
    --telemetry=disable --state-dir="$SVC_DIR" --debug-addr=- \
    </dev/null >>"$FERRETDB_LOG" 2>&1 9>&- &
  STARTED_PID=$!
  echo "$STARTED_PID" >"$FERRETDB_PID"
}

# ensure NAME PORT LOG_VAR: LOG_VAR names the variable that holds the service's log path.
ensure() {
  local name=$1 port=$2 log_var=$3 deadline
  if "${name}_healthy"; then say "$name ok (running)"; return; fi
  take_lock
  if "${name}_healthy"; then say "$name ok (running)"; return; fi
  STARTED_PID=
  LOG_OFFSET=$(stat -c %s "${!log_var}" 2>/dev/null || echo 0)
  # An open port that is not yet healthy may be a server still starting: give it the deadline.
  if ! port_open "$port"; then "start_$name"; fi
  deadline=$((SECONDS + DEADLINE_S))
  until "${name}_healthy"; do
    if [[ -n $STARTED_PID ]] && ! kill -0 "$STARTED_PID" 2>/dev/null; then
      die "$name" "exited right after start" "${!log_var}"
    fi
    if ((SECONDS >= deadline)); then
      die "$name" "not answering on $HOST:$port after ${DEADLINE_S} s" "${!log_var}"
    fi
    sleep 0.2
  done
  say "$name started"
}

mkdir -p "$SVC_DIR"
ensure redis 6379 REDIS_LOG
ensure nats 4222 NATS_LOG
ensure postgres 5432 PG_LOG
ensure ferretdb 27017 FERRETDB_LOG
ensure_toxiproxy_binary
ensure_helm_binary
bash "$ROOT/scripts/ensure-chromium.sh"

# Artillery for test/e2e/loadtest-smoke.test.ts: loadtest/ has its own package, installed once
# (a few minutes) outside the test's timeout; its .npmrc keeps Playwright from fetching a browser.
LOADTEST_LOG="$SVC_DIR/loadtest-install.log"
if [[ ! -e $ROOT/loadtest/node_modules/artillery/bin/run ]]; then
  take_lock
  if [[ ! -e $ROOT/loadtest/node_modules/artillery/bin/run ]]; then
    say "installing loadtest dependencies (npm ci --prefix loadtest, once)"
    LOG_OFFSET=0
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$ROOT/loadtest" --no-audit --no-fund >"$LOADTEST_LOG" 2>&1 ||
      die loadtest "npm ci --prefix loadtest failed" "$LOADTEST_LOG"
  fi
fi
say "loadtest ok"
