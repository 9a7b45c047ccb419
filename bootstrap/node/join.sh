#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Node side of the bootstrap, started detached by cloud-init (systemd-run) as root: authorise the manager's
# operator key for the image user, fetched from the manager over the management network.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common/lib.sh
source "$HERE/../common/lib.sh"
# shellcheck source=/dev/null
source /etc/scs-testbed/testbed.env

KEY_URL="http://$MANAGER_IP:8099/operator.pub"

fetch_operator_key() {
  local keys="/home/$IMAGE_USER/.ssh/authorized_keys" key
  # the manager serves the key once its operator exists: 120 x 30 s, an hour
  key=$(retry 120 30 curl -fsS --max-time 10 "$KEY_URL")
  [[ "$key" =~ ^ssh-(rsa|ed25519)\ [A-Za-z0-9+/=]+ ]] || {
    echo "unexpected content at $KEY_URL"
    return 1
  }
  install -d -m 0700 -o "$IMAGE_USER" -g "$IMAGE_USER" "/home/$IMAGE_USER/.ssh"
  grep -qxF "$key" "$keys" 2>/dev/null || printf '%s\n' "$key" >>"$keys"
  chown "$IMAGE_USER:$IMAGE_USER" "$keys"
  chmod 0600 "$keys"
}

main() {
  init_logs
  if run_step operator-key fetch_operator_key; then
    progress testbed "done" "node $(hostname)"
  else
    progress testbed failed operator-key
    return 1
  fi
}

dispatch main "$@"
