# Provider: the local cloud of `scs-testbed localcloud up` (real OpenStack APIs, fake back-ends)
# Tested: by the test suite's localcloud tier on every CI run.
# Quirks:
#   - VMs boot as systemd-nspawn containers of a Debian 12 image (whatever `image` says) with
#     nova's config drive: user_data runs under real cloud-init, host keys reach the console,
#     sshd answers on the floating IP. Nothing inside reaches the internet except the local
#     cloud's package mirrors on the host side of its router (as behind a corporate proxy):
#     apt through apt-cacher-ng, PyPI through devpi. The bootstrap runs `packages` and `venv`
#     through them and stops at the first step that needs another source (`collections`).
#     `-o apt_proxy= -o pypi_index_url=` turns the mirrors off (it then stops at `packages`).
#     With `localcloud up --driver fake` VMs do not boot.
#   - No L3 agent: the floating IP stays DOWN, which the provider accepts; the host still
#     reaches the manager through it (routed and DNAT-ed by the local cloud).
#   - Smaller flavors than a real testbed so the default quotas hold several testbeds.
cloud_provider            = "localcloud"
flavor_manager            = "SCS-4V-16-50"
flavor_node               = "SCS-8V-32-50"
image                     = "Ubuntu 24.04"
image_node                = "Ubuntu 24.04"
public                    = "public"
availability_zone         = "nova"
volume_availability_zone  = "nova"
network_availability_zone = null
dns_nameservers           = ["192.0.2.53"]
enable_config_drive       = false
volume_type               = "ssd"
# the local cloud's package mirrors (scs_testbed/localcloud/mirrors.py)
apt_proxy                 = "http://172.24.4.1:3142"
pypi_index_url            = "http://172.24.4.1:3141/root/pypi/+simple/"
