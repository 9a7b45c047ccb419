#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Bootstrap of the SCS testbed manager, run by cloud-init (runcmd) as root.
# Steps are data (STEPS below); each reports through the progress protocol and runs once.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common/lib.sh
source "$HERE/../common/lib.sh"
# shellcheck source=/dev/null
source "${TESTBED_ENV:-/etc/scs-testbed/testbed.env}"
# DRY_RUN=1 reports the plan for DEPLOY_MODE through the progress protocol without doing it.
DRY_RUN=${DRY_RUN:-0}

OPERATOR=dragon
VENV=/opt/venv
CONFIGURATION=/opt/configuration
KEY_PORT=8099

# name | from which deploy_mode on (manager < ceph < openstack < full) | function
STEPS=(
  "packages|manager|step_packages"
  "operator|manager|step_operator"
  "ansible|manager|step_ansible"
  "configuration|manager|step_configuration"
  "docker|manager|step_docker"
  "nodes|manager|step_nodes"
  "manager|manager|step_manager"
  "ceph|ceph|step_ceph"
  "infrastructure|openstack|step_infrastructure"
  "openstack|openstack|step_openstack"
  "monitoring|full|step_monitoring"
)
MODES=(manager ceph openstack full)

# Deploy scripts of the configuration repository; names changed over its history, so the
# first one that exists is used.
CEPH_SCRIPTS="deploy/100-ceph-with-ansible.sh deploy/100-ceph-services.sh deploy/100-ceph-services-basic.sh"
INFRASTRUCTURE_SCRIPTS="deploy/200-infrastructure-services.sh deploy/200-infrastructure-services-basic.sh deploy/200-infrastructure.sh"
OPENSTACK_SCRIPTS="deploy/300-openstack-services.sh deploy/300-openstack-services-basic.sh deploy/300-openstack.sh"
MONITORING_SCRIPTS="deploy/400-monitoring-services.sh deploy/400-monitoring.sh"

mode_level() {
  local i
  for i in "${!MODES[@]}"; do
    [[ "${MODES[$i]}" == "$1" ]] && { echo "$i"; return 0; }
  done
  echo "unknown deploy_mode $1" >&2
  return 1
}

as_operator() {
  sudo -iu "$OPERATOR" env MANAGER_VERSION="$MANAGER_VERSION" "$@"
}

run_configuration_script() {
  local candidate
  for candidate in "$@"; do
    if [[ -x "$CONFIGURATION/scripts/$candidate" ]]; then
      as_operator "$CONFIGURATION/scripts/$candidate"
      return
    fi
  done
  echo "none of these exist in $CONFIGURATION/scripts: $*"
  return 1
}

step_packages() {
  apt_install ca-certificates curl git jq python3-venv python3-pip
}

step_operator() {
  # The operator runs everything that follows; its key pair is made here, on the manager,
  # so no private key ever travels in user_data.
  id "$OPERATOR" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$OPERATOR"
  printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$OPERATOR" >/etc/sudoers.d/90-scs-testbed-operator
  chmod 0440 /etc/sudoers.d/90-scs-testbed-operator
  install -d -m 0700 -o "$OPERATOR" -g "$OPERATOR" "/home/$OPERATOR/.ssh"
  if [[ ! -e "/home/$OPERATOR/.ssh/id_rsa" ]]; then
    sudo -u "$OPERATOR" ssh-keygen -q -t rsa -b 4096 -N '' -C "$OPERATOR@$TESTBED_PREFIX-manager" \
      -f "/home/$OPERATOR/.ssh/id_rsa"
  fi
  # the user's public key (installed for the image user by cloud-init) works for dragon too
  cat "/home/$IMAGE_USER/.ssh/authorized_keys" >"/home/$OPERATOR/.ssh/authorized_keys"
  chown "$OPERATOR:$OPERATOR" "/home/$OPERATOR/.ssh/authorized_keys"
  chmod 0600 "/home/$OPERATOR/.ssh/authorized_keys"
}

step_ansible() {
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  retry 5 10 "$VENV/bin/pip" install -q --upgrade pip
  retry 5 10 "$VENV/bin/pip" install -q "ansible-core>=2.16,<2.18" netaddr
  ln -sf "$VENV/bin/ansible" "$VENV/bin/ansible-playbook" "$VENV/bin/ansible-galaxy" /usr/local/bin/
}

step_configuration() {
  if [[ ! -d "$CONFIGURATION/.git" ]]; then
    retry 5 10 git clone --quiet "$CONFIGURATION_REPOSITORY" "$CONFIGURATION"
  fi
  git -C "$CONFIGURATION" remote set-url origin "$CONFIGURATION_REPOSITORY"
  retry 5 10 git -C "$CONFIGURATION" fetch --quiet --tags origin "$CONFIGURATION_VERSION"
  git -C "$CONFIGURATION" checkout --quiet --force FETCH_HEAD
  chown -R "$OPERATOR:$OPERATOR" "$CONFIGURATION"
  # what the configuration's own deploy scripts read
  cat >/opt/manager-vars.sh <<VARS
export MANAGER_VERSION=$MANAGER_VERSION
export CEPH_VERSION=$CEPH_VERSION
export OPENSTACK_VERSION=$OPENSTACK_VERSION
export IMAGE_NODE_USER=$IMAGE_NODE_USER
export CEPH_STACK=ceph-ansible
export ARA=true
export IS_ZUUL=false
export EXTERNAL_API=false
VARS
}

step_docker() {
  ANSIBLE_STDOUT_CALLBACK=default ansible-playbook -i localhost, -c local \
    -e "operator_user=$OPERATOR" "$HERE/playbooks/manager.yml"
}

# The nodes fetch the operator's public key from the manager over the management network
# (served only while this step runs), then the manager waits until each node's cloud-init
# is done: Ansible must not start on a node that is still booting.
step_nodes() {
  local ip served
  served=$(mktemp -d)
  cp "/home/$OPERATOR/.ssh/id_rsa.pub" "$served/operator.pub"
  python3 -m http.server "$KEY_PORT" --bind "$MANAGER_IP" --directory "$served" &
  local server=$!
  # shellcheck disable=SC2064 # expand now: the trap must stop this server
  trap "kill $server 2>/dev/null || true; rm -rf '$served'; trap - RETURN" RETURN
  for ip in $NODE_IPS; do
    retry 60 10 as_operator ssh -o BatchMode=yes -o ConnectTimeout=10 \
      -o StrictHostKeyChecking=accept-new "$IMAGE_NODE_USER@$ip" cloud-init status --wait
  done
}

step_manager() {
  local part
  for part in 0 1 2; do
    if [[ -e "$CONFIGURATION/ansible/manager-part-$part.yml" ]]; then
      as_operator ansible-playbook -i testbed-manager, -c local \
        --vault-password-file "$CONFIGURATION/environments/.vault_pass" \
        "$CONFIGURATION/ansible/manager-part-$part.yml"
    fi
  done
  run_configuration_script deploy-manager.sh
}

step_ceph() {
  # shellcheck disable=SC2086 # word splitting of the candidate list is intended
  run_configuration_script $CEPH_SCRIPTS
}

step_infrastructure() {
  # shellcheck disable=SC2086
  run_configuration_script $INFRASTRUCTURE_SCRIPTS
}

step_openstack() {
  # shellcheck disable=SC2086
  run_configuration_script $OPENSTACK_SCRIPTS
}

step_monitoring() {
  # shellcheck disable=SC2086
  run_configuration_script $MONITORING_SCRIPTS
}

dry_step() {
  echo "dry run: nothing done"
}

main() {
  init_logs
  local level entry name needs func failed=""
  level=$(mode_level "$DEPLOY_MODE")
  log "bootstrap of $TESTBED_PREFIX, deploy_mode $DEPLOY_MODE"
  for entry in "${STEPS[@]}"; do
    IFS='|' read -r name needs func <<<"$entry"
    if (($(mode_level "$needs") > level)); then
      progress "$name" skipped "not part of deploy_mode $DEPLOY_MODE"
      continue
    fi
    [[ "$DRY_RUN" == 1 ]] && func=dry_step
    if ! run_step "$name" "$func"; then
      failed=$name
      break
    fi
  done
  if [[ -n "$failed" ]]; then
    progress testbed failed "$failed"
    log "the testbed bootstrap failed in step $failed"
    return 1
  fi
  progress testbed "done" "deploy_mode $DEPLOY_MODE"
  log "the testbed is up"
}

main "$@"
