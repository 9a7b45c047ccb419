#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Bootstrap of the SCS testbed manager, run as root by the systemd unit scs-testbed-bootstrap
# (started from cloud-init, and again after the reboot in the middle). Each step is the in-VM
# equivalent of a step of the reference (osism/testbed); bootstrap/reference.yaml says which
# file of the reference each one mirrors. Steps are data (STEPS below); each reports through
# the progress protocol and runs once.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common/lib.sh
source "$HERE/../common/lib.sh"
# shellcheck source=/dev/null
source "${TESTBED_ENV:-/etc/scs-testbed/testbed.env}"
# DRY_RUN=1 reports the plan for DEPLOY_MODE through the progress protocol without doing it.
# DRY_RUN=scripts does the same but runs the configuration repository's scripts (as the
# calling user): for tests with a stand-in configuration repository.
DRY_RUN=${DRY_RUN:-0}

OPERATOR=dragon
OPERATOR_ID=45000 # uid and gid: the osism containers run as 45000 and read the operator key
VENV=/opt/venv
CONFIGURATION=${CONFIGURATION:-/opt/configuration}
MANAGER_VARS=${MANAGER_VARS:-/opt/manager-vars.sh}
KEY_PORT=8099
REBOOT_FLAG=$STATE_DIR/reboot-requested

# External sources; empty means the public default of the tool (set by scs-testbed from the
# Terraform variables of the same names, for clouds with restricted egress).
PIP_INDEX_URL=${PIP_INDEX_URL:-}
ANSIBLE_GALAXY_SERVER=${ANSIBLE_GALAXY_SERVER:-}
COLLECTIONS_REPOSITORY_BASE=${COLLECTIONS_REPOSITORY_BASE:-https://github.com/osism}
COLLECTIONS_VERSION=${COLLECTIONS_VERSION:-main}
REGISTRY_MIRROR=${REGISTRY_MIRROR:-}

# name | from which deploy_mode on (manager < ceph < openstack < full) | function
# The order is the reference's: playbooks/deploy.yml (part-0, part-1 + part-2, reboot, wait
# for docker, deploy-manager.sh, deploy-services.sh, bootstrap.sh), deploy-services.sh
# for the service scripts.
STEPS=(
  "cloud-init|manager|step_cloud_init"
  "packages|manager|step_packages"
  "operator|manager|step_operator"
  "venv|manager|step_venv"
  "collections|manager|step_collections"
  "configuration|manager|step_configuration"
  "docker|manager|step_docker"
  "reboot|manager|step_reboot"
  "docker-ready|manager|step_docker_ready"
  "nodes|manager|step_nodes"
  "deploy-manager|manager|step_deploy_manager"
  "pull-images|ceph|step_pull_images"
  "helpers|ceph|step_helpers"
  "infrastructure|openstack|step_infrastructure"
  "ceph|ceph|step_ceph"
  "openstack|openstack|step_openstack"
  "monitoring|full|step_monitoring"
  "bootstrap-openstack|openstack|step_bootstrap_openstack"
)
MODES=(manager ceph openstack full)

# The configuration repository's scripts each step runs (paths under scripts/); the
# traceability file lists every one of them.
declare -A SCRIPTS=(
  [deploy-manager]=deploy-manager.sh
  [pull-images]=pull-images.sh
  [helpers]=deploy/001-helpers.sh
  [infrastructure]=deploy/200-infrastructure.sh
  [ceph]=deploy/100-ceph-with-ansible.sh
  [openstack]=deploy/300-openstack.sh
  [monitoring]=deploy/400-monitoring.sh
  [bootstrap-openstack]=bootstrap.sh
)

mode_level() {
  local i
  for i in "${!MODES[@]}"; do
    [[ "${MODES[$i]}" == "$1" ]] && { echo "$i"; return 0; }
  done
  echo "unknown deploy_mode $1" >&2
  return 1
}

# as_operator COMMAND... - as the operator, from its home (each step is its own process, so
# the cd stays inside the step)
as_operator() {
  if [[ "$DRY_RUN" == scripts ]]; then
    "$@"
    return
  fi
  local environment=()
  [[ -n "$PIP_INDEX_URL" ]] && environment+=("PIP_INDEX_URL=$PIP_INDEX_URL")
  # pip ignores an index over plain HTTP unless its host is trusted (a mirror inside the cloud)
  if [[ "$PIP_INDEX_URL" == http://* ]]; then
    local host=${PIP_INDEX_URL#http://}
    environment+=("PIP_TRUSTED_HOST=${host%%[:/]*}")
  fi
  cd "/home/$OPERATOR"
  sudo -u "$OPERATOR" -H env "${environment[@]}" "$@"
}

# need_source WHAT VARIABLE ATTEMPTS DELAY COMMAND... - a download from an external source;
# when it keeps failing, the step's detail says which source could not be reached and which
# variable points elsewhere.
need_source() {
  local what=$1 variable=$2
  shift 2
  if ! retry "$@"; then
    echo "cannot reach $what: set the variable $variable to a source this cloud can reach"
    return 1
  fi
}

# run_configuration_script STEP - a script of the configuration repository, as the operator,
# the way the reference runs them (ssh dragon@manager /opt/configuration/scripts/...).
run_configuration_script() {
  local script="$CONFIGURATION/scripts/${SCRIPTS[$1]}"
  if [[ ! -x "$script" ]]; then
    echo "$script does not exist in configuration version $CONFIGURATION_VERSION"
    return 1
  fi
  as_operator "$script"
}

# part-0 waits for boot-finished; we are ordered after cloud-final instead (the unit), and
# check cloud-init's verdict: 0 done, 2 done with recoverable errors (cloud-init >= 23.4).
step_cloud_init() {
  if ! command -v cloud-init >/dev/null; then
    echo "cloud-init is not installed (removed by the reference's cleanup role): nothing to wait for"
    return 0
  fi
  local rc=0
  cloud-init status --wait >/dev/null || rc=$?
  if ((rc != 0 && rc != 2)); then
    cloud-init status --long || true
    echo "cloud-init failed (status exit $rc)"
    return 1
  fi
  echo "cloud-init finished (status exit $rc)"
}

# part-0: apt retries and lock timeout, dist-upgrade, HWE kernel (Ubuntu), build tools;
# chrony from terraform-base's cloud-config (ntp_client chrony, chronyc makestep).
step_packages() {
  # shellcheck source=/dev/null
  source /etc/os-release
  if [[ "$ID" == ubuntu && "${VERSION_ID//./}" -lt 2404 ]] || [[ "$ID" == debian && "${VERSION_ID:-0}" -lt 12 ]]; then
    echo "$PRETTY_NAME is too old for the reference: Ubuntu >= 24.04 or Debian >= 12"
    return 1
  fi
  printf 'Acquire::Retries "3";\nDPkg::Lock::Timeout "%s";\n' "$APT_LOCK_TIMEOUT" \
    >/etc/apt/apt.conf.d/80-retries
  echo '* libraries/restart-without-asking boolean true' | debconf-set-selections
  # Error-Mode=any: an index that cannot be fetched fails the update (apt only warns by
  # default, and the step would fail later, less clearly, on "Unable to locate package").
  # Retries=0 for the commands need_source retries: its budget (5 x 10 s) is the budget, not
  # that times apt's own retries with back-off (~30 s more per attempt).
  local once=(-o Acquire::Retries=0)
  need_source "the apt mirror ($(apt_source_hosts))" "apt_mirror or apt_proxy" 5 10 \
    apt_get "${once[@]}" -o APT::Update::Error-Mode=any update
  need_source "the apt mirror" "apt_mirror or apt_proxy" 5 10 apt_get "${once[@]}" dist-upgrade -y
  local packages=(build-essential python3-dev python3-netaddr python3-venv rsync git jq curl chrony sudo)
  [[ "$ID" == ubuntu ]] && packages+=("linux-generic-hwe-$VERSION_ID")
  need_source "the apt mirror" "apt_mirror or apt_proxy" 5 10 \
    apt_get "${once[@]}" install -y --no-install-recommends "${packages[@]}"
  apt_get remove -y python3-docker python3-requests
  # the reference ignores a chronyd that cannot step the clock (containers): so do we
  chronyc -a makestep || echo "chronyc makestep failed: clock left as it is"
}

apt_source_hosts() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    grep -oE '(https?://[^/ ]+)' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# osism.commons.operator as called by part-0: dragon, uid/gid 45000, bash, passwordless sudo.
# Its key pair is made here, on the manager: no private key ever travels in user_data.
step_operator() {
  getent group "$OPERATOR" >/dev/null || groupadd --gid "$OPERATOR_ID" "$OPERATOR"
  id "$OPERATOR" >/dev/null 2>&1 ||
    useradd --create-home --shell /bin/bash --uid "$OPERATOR_ID" --gid "$OPERATOR_ID" "$OPERATOR"
  if [[ "$(id -u "$OPERATOR"):$(id -g "$OPERATOR")" != "$OPERATOR_ID:$OPERATOR_ID" ]]; then
    echo "$OPERATOR exists with uid:gid $(id -u "$OPERATOR"):$(id -g "$OPERATOR"), the reference needs $OPERATOR_ID:$OPERATOR_ID"
    return 1
  fi
  printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$OPERATOR" >/etc/sudoers.d/operator
  chmod 0440 /etc/sudoers.d/operator
  install -d -m 0700 -o "$OPERATOR" -g "$OPERATOR" "/home/$OPERATOR/.ssh"
  if [[ ! -e "/home/$OPERATOR/.ssh/id_rsa" ]]; then
    as_operator ssh-keygen -q -t rsa -b 4096 -N '' -C "$OPERATOR@$TESTBED_PREFIX-manager" \
      -f "/home/$OPERATOR/.ssh/id_rsa"
  fi
  # the user's public key (installed for the image user by cloud-init) and the operator's
  # own key (the osism containers ssh to the manager too) may log in as the operator
  cat "/home/$IMAGE_USER/.ssh/authorized_keys" "/home/$OPERATOR/.ssh/id_rsa.pub" \
    >"/home/$OPERATOR/.ssh/authorized_keys"
  chown "$OPERATOR:$OPERATOR" "/home/$OPERATOR/.ssh/authorized_keys"
  chmod 0600 "/home/$OPERATOR/.ssh/authorized_keys"
}

# part-0 and part-1: /opt/venv with the reference's Ansible and Python packages, owned by
# the operator.
step_venv() {
  install -d -m 0755 -o "$OPERATOR" -g "$OPERATOR" "$VENV"
  [[ -x "$VENV/bin/python" ]] || as_operator python3 -m venv "$VENV"
  # pip's own retries kept small: the budget is ours (5 x 10 s)
  need_source "the Python package index" pypi_index_url 5 10 as_operator "$VENV/bin/pip" install -q \
    --retries 1 --timeout 20 \
    netaddr "ansible-core>=2.18.0,<2.19.0" "requests>=2.32.2" "docker>=7.1.0" \
    Jinja2 PyYAML packaging "python-gilt==1.2.3"
  chown -R "$OPERATOR:$OPERATOR" "$VENV"
}

# part-0: collections into /usr/share/ansible/collections; osism.commons and osism.services
# from their repositories (the reference syncs the workstation's checkouts of them).
step_collections() {
  local galaxy=("$VENV/bin/ansible-galaxy" collection install --force
    --collections-path /usr/share/ansible/collections)
  [[ -n "$ANSIBLE_GALAXY_SERVER" ]] && galaxy+=(--server "$ANSIBLE_GALAXY_SERVER")
  install -d -m 0755 /usr/share/ansible
  need_source "the Ansible collection server" ansible_galaxy_server 5 10 \
    "${galaxy[@]}" ansible.netcommon ansible.posix "community.docker>=3.10.2"
  local name
  for name in commons services; do
    need_source "$COLLECTIONS_REPOSITORY_BASE/ansible-collection-$name" collections_repository_base 5 10 \
      "${galaxy[@]}" "git+$COLLECTIONS_REPOSITORY_BASE/ansible-collection-$name.git,$COLLECTIONS_VERSION"
  done
}

# part-1: the configuration repository at /opt/configuration, owned by the operator; the
# testbed CA trusted; cleanup_cloudinit off for the manager (the reference's cleanup role
# would otherwise purge cloud-init and /etc/cloud here too).
step_configuration() {
  if [[ ! -d "$CONFIGURATION/.git" ]]; then
    install -d -m 0755 -o "$OPERATOR" -g "$OPERATOR" "$CONFIGURATION"
    need_source "the configuration repository $CONFIGURATION_REPOSITORY" configuration_repository 5 10 \
      as_operator git clone --quiet "$CONFIGURATION_REPOSITORY" "$CONFIGURATION"
  fi
  as_operator git -C "$CONFIGURATION" remote set-url origin "$CONFIGURATION_REPOSITORY"
  need_source "the configuration repository $CONFIGURATION_REPOSITORY" configuration_repository 5 10 \
    as_operator git -C "$CONFIGURATION" fetch --quiet --tags origin "$CONFIGURATION_VERSION"
  as_operator git -C "$CONFIGURATION" checkout --quiet --force FETCH_HEAD
  local vars="$CONFIGURATION/inventory/host_vars/testbed-manager/vars.yml"
  if [[ ! -e "$vars" ]]; then
    echo "$vars is missing: is $CONFIGURATION_REPOSITORY the testbed's configuration?"
    return 1
  fi
  grep -q '^cleanup_cloudinit:' "$vars" ||
    printf '\n# scs-testbed: the bootstrap runs from cloud-init on the manager\ncleanup_cloudinit: false\n' >>"$vars"
  chown "$OPERATOR:$OPERATOR" "$vars"
  install -m 0644 "$CONFIGURATION/environments/kolla/certificates/ca/testbed.crt" /usr/local/share/ca-certificates/
  update-ca-certificates
}

# part-2: Docker through the reference's own roles (docker-ce from Docker's repository, never
# docker.io), gilt overlay for a pinned manager version.
step_docker() {
  if [[ "$MANAGER_VERSION" != latest ]]; then
    as_operator env -C "$CONFIGURATION" MANAGER_VERSION="$MANAGER_VERSION" "$VENV/bin/gilt" overlay
  fi
  local mirrors="[]"
  [[ -n "$REGISTRY_MIRROR" ]] && mirrors="[\"$REGISTRY_MIRROR\"]"
  ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_COLLECTIONS_PATH=/usr/share/ansible/collections \
    "$VENV/bin/ansible-playbook" -i localhost, -c local \
    -e "manager_version=$MANAGER_VERSION" -e "{\"docker_registry_mirrors\": $mirrors}" \
    "$HERE/playbooks/manager.yml"
}

# deploy.yml reboots the manager after part-2; this unit starts again after the reboot and
# carries on with the next step.
step_reboot() {
  touch "$REBOOT_FLAG"
}

# deploy.yml: wait until `docker info` works for the operator (60 x 5 s)
step_docker_ready() {
  retry 60 5 as_operator docker info >/dev/null
}

# Not in the reference (its nodes get the key pair from Terraform): the nodes fetch the
# operator's public key from the manager (served only while this step runs), then the
# manager waits until each node's cloud-init is done, so Ansible never meets a booting node.
step_nodes() {
  local ip served server
  served=$(mktemp -d)
  cp "/home/$OPERATOR/.ssh/id_rsa.pub" "$served/operator.pub"
  python3 -m http.server "$KEY_PORT" --bind "$MANAGER_IP" --directory "$served" &
  server=$!
  # shellcheck disable=SC2064 # expand now: the trap must stop this server
  trap "kill $server 2>/dev/null || true; rm -rf '$served'" EXIT
  for ip in $NODE_IPS; do
    # 60 x 10 s: ten minutes per node for sshd, the key and cloud-init (0 or 2 is finished)
    # shellcheck disable=SC2016 # expanded by the node's shell
    retry 60 10 as_operator ssh -o BatchMode=yes -o ConnectTimeout=10 \
      -o StrictHostKeyChecking=accept-new "$IMAGE_NODE_USER@$ip" \
      'cloud-init status --wait >/dev/null; rc=$?; [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]'
  done
}

step_deploy_manager() { run_configuration_script deploy-manager; }
step_pull_images() { run_configuration_script pull-images; }
step_helpers() { run_configuration_script helpers; }
step_infrastructure() { run_configuration_script infrastructure; }
step_ceph() { run_configuration_script ceph; }
step_openstack() { run_configuration_script openstack; }
step_monitoring() { run_configuration_script monitoring; }
step_bootstrap_openstack() { run_configuration_script bootstrap-openstack; }

dry_step() {
  echo "dry run: nothing done"
}

main() {
  init_logs
  local level entry name needs func failed=""
  level=$(mode_level "$DEPLOY_MODE")
  log "bootstrap of $TESTBED_PREFIX, deploy_mode $DEPLOY_MODE"
  # every run begins with this event (the first, after the reboot, after a restart of the
  # unit): watch then follows the new run, not an old failure earlier in the file
  progress testbed start "deploy_mode $DEPLOY_MODE"
  for entry in "${STEPS[@]}"; do
    IFS='|' read -r name needs func <<<"$entry"
    if (($(mode_level "$needs") > level)); then
      progress "$name" skipped "not part of deploy_mode $DEPLOY_MODE"
      continue
    fi
    if [[ "$DRY_RUN" == 1 || ("$DRY_RUN" == scripts && -z "${SCRIPTS[$name]:-}") ]]; then
      func=dry_step
    fi
    if ! run_step "$name" "$func"; then
      failed=$name
      break
    fi
    if [[ -e "$REBOOT_FLAG" ]]; then
      rm -f "$REBOOT_FLAG"
      log "rebooting the manager; the bootstrap carries on after the boot"
      systemctl reboot
      return 0
    fi
  done
  if [[ -n "$failed" ]]; then
    progress testbed failed "$failed"
    log "the testbed bootstrap failed in step $failed"
    return 1
  fi
  progress testbed "done" "deploy_mode $DEPLOY_MODE"
  # the unit does not start again at the next boot (ConditionPathExists)
  touch "$STATE_DIR/finished"
  log "the testbed is up"
}

dispatch main "$@"
