#!/usr/bin/env bash
# Shared by the manager and node bootstraps: progress protocol v1, logging, retries, steps.
# Sourced, not run. Progress: one JSON line per event in $PROGRESS; human output in $LOG.

SCS_LOG_DIR=${SCS_LOG_DIR:-/var/log/scs-testbed}
PROGRESS=${PROGRESS:-$SCS_LOG_DIR/progress.jsonl}
LOG=${LOG:-$SCS_LOG_DIR/bootstrap.log}
STATE_DIR=${STATE_DIR:-/var/lib/scs-testbed}
# the script that sourced this library: run_step runs each step as a fresh process of it
SCS_SELF=${SCS_SELF:-$(readlink -f "$0")}

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

# retry ATTEMPTS DELAY COMMAND... - for mirrors and downloads that fail transiently. The delay
# is fixed, so the budget a caller writes down is simply ATTEMPTS x DELAY seconds (plus the
# commands' own run time).
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
  done
}

# apt waits this long for the dpkg lock held by unattended-upgrades on a first boot
APT_LOCK_TIMEOUT=${APT_LOCK_TIMEOUT:-300}

apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -q -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT" "$@"
}

# The last meaningful lines a step wrote to the log (no blank lines, no shell trace lines):
# what a failed step reports as its detail.
step_tail() {
  local offset=$1
  tail -c "+$((offset + 1))" "$LOG" | grep -v -e '^[[:space:]]*$' -e '^+' | tail -n 3 |
    tr '\n' '|' | sed -e 's/|$//' -e 's/|/ | /g' | cut -c1-400
}

# run_step NAME FUNCTION - runs once: a marker makes a re-run (reboot, manual retry) skip it.
# The function runs in a fresh bash process of the calling script (see dispatch) with errexit
# on: the first failing command ends and fails the step. Inside the caller's own shell that is
# impossible to guarantee, because a function called under `if`, `||` or `!` runs with errexit
# silently switched off, subshells included.
run_step() {
  local name=$1 func=$2 rc=0 offset detail
  if [[ -e "$STATE_DIR/done/$name" ]]; then
    progress "$name" "done" "already done"
    return 0
  fi
  progress "$name" start
  log "== $name"
  offset=$(stat -c %s "$LOG")
  "$BASH" "$SCS_SELF" __step "$func" >>"$LOG" 2>&1 </dev/null || rc=$?
  if ((rc != 0)); then
    detail=$(step_tail "$offset")
    progress "$name" failed "exit $rc: ${detail:-no output}"
    log "== $name failed (exit $rc)"
    return "$rc"
  fi
  touch "$STATE_DIR/done/$name"
  progress "$name" "done"
}

# dispatch MAIN ARGS... - the last line of a script using run_step: `__step FUNCTION` runs one
# step function (errexit and pipefail on, at top level), anything else runs MAIN.
dispatch() {
  local main=$1
  shift
  if [[ "${1:-}" == __step ]]; then
    set -euo pipefail
    "$2"
  else
    "$main" "$@"
  fi
}
