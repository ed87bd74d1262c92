#!/usr/bin/env bash
# Ardoise scale-out on one PostgreSQL: migrations, 2 API processes, 2 workers and 1 SMTP listener.
#
#   ARDOISE_DATABASE_URL=postgresql://ardoise@127.0.0.1:5432/ardoise \
#   ARDOISE_SECRET_KEY=... ARDOISE_PUBLIC_URL=https://ardoise.example.org \
#   deploy/run-scaleout.sh start     # migrate, start everything, wait until it answers
#   deploy/run-scaleout.sh status    # which of the started processes are alive
#   deploy/run-scaleout.sh stop      # SIGTERM (then SIGKILL after 15 s) to the started processes only
#
# Every ARDOISE_* variable is passed to the processes (docs/configuration.md). Knobs of this script:
#   ARDOISE_BIN         the ardoise command (default: the repository's .venv/bin/ardoise, else `ardoise`)
#   ARDOISE_RUN_DIR     where the PID file and the logs go (default: ./run)
#   ARDOISE_PID_FILE    default: $ARDOISE_RUN_DIR/ardoise.pids  (lines "name pid")
#   ARDOISE_API_HOST    default 127.0.0.1; ARDOISE_API_PORTS default "8001 8002" (one API process per port)
#   ARDOISE_WORKERS     default 2
#   ARDOISE_SMTP_HOST / ARDOISE_SMTP_PORT   the SMTP listener (default 127.0.0.1:2525)
#   ARDOISE_START_TIMEOUT   seconds to wait for everything to answer (default 90)
#
# Put a load balancer (Caddy, nginx, HAProxy) in front of the API ports, point Twilio's webhook at one
# public URL and its fallback URL at the same or another; stop kills only the PIDs this script wrote.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-start}"

RUN_DIR="${ARDOISE_RUN_DIR:-./run}"
PID_FILE="${ARDOISE_PID_FILE:-$RUN_DIR/ardoise.pids}"
API_HOST="${ARDOISE_API_HOST:-127.0.0.1}"
API_PORTS="${ARDOISE_API_PORTS:-8001 8002}"
WORKERS="${ARDOISE_WORKERS:-2}"
SMTP_HOST="${ARDOISE_SMTP_HOST:-127.0.0.1}"
SMTP_PORT="${ARDOISE_SMTP_PORT:-2525}"
START_TIMEOUT="${ARDOISE_START_TIMEOUT:-90}"

if [ -n "${ARDOISE_BIN:-}" ]; then
  BIN="$ARDOISE_BIN"
elif [ -x "$here/../.venv/bin/ardoise" ]; then
  BIN="$here/../.venv/bin/ardoise"
else
  BIN="ardoise"
fi

log() { printf '%s %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }

# running PID: the process exists and is not a zombie.
running() {
  local stat rest
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  rest="${stat##*) }"
  [ -n "$stat" ] && [ "${rest%% *}" != "Z" ]
}

# alive PID: running, and an ardoise process (a recycled PID is left alone).
alive() {
  local cmdline
  running "$1" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *ardoise* ]]
}

pids() { [ -f "$PID_FILE" ] && awk 'NF == 2 { print $2 }' "$PID_FILE"; }

stop_all() {
  [ -f "$PID_FILE" ] || { log "no PID file at $PID_FILE: nothing to stop"; return 0; }
  local pid targets="" left deadline
  for pid in $(pids); do
    if alive "$pid"; then
      targets="$targets $pid"
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  deadline=$((SECONDS + 15))  # workers drain for up to 10 s
  while :; do
    left=""
    for pid in $targets; do running "$pid" && left="$left $pid"; done
    [ -z "$left" ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "still running after 15 s, SIGKILL:$left"
      for pid in $left; do kill -KILL "$pid" 2>/dev/null || true; done
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  log "stopped${targets:+:$targets}"
}

status() {
  [ -f "$PID_FILE" ] || { echo "not started (no $PID_FILE)"; return 1; }
  local name pid bad=0
  while read -r name pid; do
    if alive "$pid"; then echo "$name $pid running"; else echo "$name $pid DEAD"; bad=1; fi
  done <"$PID_FILE"
  return "$bad"
}

http_ok() {  # http_ok URL: 2xx within 2 s
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
  else
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null
  fi
}

tcp_ok() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

launch() {  # launch NAME ARGS...: start one process in the background, record its PID
  local name="$1"
  shift
  nohup "$BIN" "$@" >>"$RUN_DIR/$name.log" 2>&1 </dev/null &
  echo "$name $!" >>"$PID_FILE"
  log "started $name (pid $!): ardoise $*"
}

start() {
  : "${ARDOISE_DATABASE_URL:?set ARDOISE_DATABASE_URL=postgresql://user@host:5432/dbname}"
  case "$ARDOISE_DATABASE_URL" in
    postgres*) ;;
    *) log "ARDOISE_DATABASE_URL must be PostgreSQL for several processes (SQLite: use 'ardoise serve')"; exit 2 ;;
  esac
  mkdir -p "$RUN_DIR"
  if [ -f "$PID_FILE" ]; then
    for pid in $(pids); do
      if alive "$pid"; then log "already running (pid $pid in $PID_FILE); '$0 stop' first"; exit 1; fi
    done
    rm -f "$PID_FILE"
  fi
  export ARDOISE_SMTP_HOST="$SMTP_HOST" ARDOISE_SMTP_PORT="$SMTP_PORT"

  log "migrating"
  "$BIN" migrate

  : >"$PID_FILE"
  local port i
  for port in $API_PORTS; do
    launch "api-$port" serve --no-worker --no-smtp --host "$API_HOST" --port "$port"
  done
  for i in $(seq 1 "$WORKERS"); do
    launch "worker-$i" worker
  done
  launch smtp smtp

  local deadline=$((SECONDS + START_TIMEOUT)) waiting name pid
  while :; do
    waiting=""
    while read -r name pid; do
      if ! alive "$pid"; then
        log "$name (pid $pid) died while starting; the end of $RUN_DIR/$name.log:"
        tail -n 30 "$RUN_DIR/$name.log" >&2 || true
        stop_all
        exit 1
      fi
    done <"$PID_FILE"
    for port in $API_PORTS; do http_ok "http://$API_HOST:$port/readyz" || waiting="$waiting api-$port"; done
    tcp_ok "$SMTP_HOST" "$SMTP_PORT" || waiting="$waiting smtp"
    [ -z "$waiting" ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "not ready after ${START_TIMEOUT} s:$waiting (logs in $RUN_DIR)"
      stop_all
      exit 1
    fi
    sleep 0.5
  done
  log "ready: API on $(for p in $API_PORTS; do printf '%s:%s ' "$API_HOST" "$p"; done)| $WORKERS workers | SMTP $SMTP_HOST:$SMTP_PORT"
  log "PIDs in $PID_FILE; stop with: $0 stop"
}

case "$cmd" in
  start) start ;;
  stop) stop_all ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
