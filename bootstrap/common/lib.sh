#!/usr/bin/env bash
# Shared by the manager and node bootstraps: progress protocol v1, logging, retries, steps.
# Sourced, not run. Progress: one JSON line per event in $PROGRESS; human output in $LOG.

SCS_LOG_DIR=${SCS_LOG_DIR:-/var/log/scs-testbed}
PROGRESS=${PROGRESS:-$SCS_LOG_DIR/progress.jsonl}
LOG=${LOG:-$SCS_LOG_DIR/bootstrap.log}
STATE_DIR=${STATE_DIR:-/var/lib/scs-testbed}
RETRY_MAX_DELAY=${RETRY_MAX_DELAY:-60}

init_logs() {
  install -d -m 0755 "$SCS_LOG_DIR" "$STATE_DIR/done"
  touch "$PROGRESS" "$LOG"
  # watch reads both as the login user; they hold no secrets (none are ever printed).
  chmod 0644 "$PROGRESS" "$LOG"
}

json_escape() {
  local text=$1
  text=${text//\\/\\\\}
  text=${text//\"/\\\"}
  text=${text//$'\t'/ }
  text=${text//$'\r'/ }
  text=${text//$'\n'/ }
  printf '%s' "$text"
}

# progress STEP STATE [DETAIL] - STATE is start, done, failed or skipped
progress() {
  local ts
  ts=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
  printf '{"v":1,"ts":"%s","step":"%s","state":"%s","detail":"%s"}\n' \
    "$ts" "$(json_escape "$1")" "$2" "$(json_escape "${3:-}")" >>"$PROGRESS"
}

log() {
  printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >>"$LOG"
}

# retry ATTEMPTS DELAY COMMAND... - for package mirrors and downloads that fail transiently;
# the delay doubles up to RETRY_MAX_DELAY seconds
retry() {
  local attempts=$1 delay=$2 n=1
  shift 2
  until "$@"; do
    if ((n >= attempts)); then
      log "giving up after $n attempts: $*"
      return 1
    fi
    log "attempt $n of $attempts failed, retrying in ${delay}s: $*"
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2 > RETRY_MAX_DELAY ? RETRY_MAX_DELAY : delay * 2))
  done
}

apt_install() {
  retry 5 10 apt-get update -q
  DEBIAN_FRONTEND=noninteractive retry 5 10 apt-get install -y -q --no-install-recommends "$@"
}

# run_step NAME FUNCTION - runs once: a marker makes a re-run (reboot, manual retry) skip it
run_step() {
  local name=$1 func=$2 rc=0
  if [[ -e "$STATE_DIR/done/$name" ]]; then
    progress "$name" "done" "already done"
    return 0
  fi
  progress "$name" start
  log "== $name"
  "$func" >>"$LOG" 2>&1 || rc=$?
  if ((rc != 0)); then
    progress "$name" failed "exit $rc: $(tail -n 1 "$LOG" | cut -c1-200)"
    log "== $name failed (exit $rc)"
    return "$rc"
  fi
  touch "$STATE_DIR/done/$name"
  progress "$name" "done"
}
