# Input variables of the testbed module. Names follow the SCS/OSISM testbed so that its
# environment files port by copy. scs-testbed reads this file too (types, defaults, validation).

variable "cloud_provider" {
  description = "Name of the cloud entry in clouds.yaml to deploy into."
  type        = string

  validation {
    condition     = length(trimspace(var.cloud_provider)) > 0
    error_message = "cloud_provider must name an entry of clouds.yaml."
  }
}

variable "prefix" {
  description = "Prefix of every resource name; lets several testbeds share one project."
  type        = string
  default     = "testbed"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,23}$", var.prefix))
    error_message = "prefix must start with a lower-case letter and contain only a-z, 0-9 and '-' (at most 24 characters)."
  }
}

variable "public_key" {
  description = "OpenSSH public key installed for image_user on every VM (never a private key)."
  type        = string
  default     = null

  validation {
    condition     = var.public_key == null || can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp[0-9]+) [A-Za-z0-9+/=]+", var.public_key))
    error_message = "public_key must be an OpenSSH public key line (ssh-ed25519 / ssh-rsa / ecdsa-sha2-*)."
  }
}

variable "flavor_manager" {
  description = "Flavor of the manager VM (at least 4 vCPU / 8 GB; 16 GB recommended)."
  type        = string
  default     = "SCS-4V-16-50"
}

variable "flavor_node" {
  description = "Flavor of the hyperconverged node VMs (at least 8 vCPU / 30 GB)."
  type        = string
  default     = "SCS-8V-32-50"
}

variable "image" {
  description = "Image name of the manager (the most recent image with this name is used)."
  type        = string
  default     = "Ubuntu 24.04"
}

variable "image_node" {
  description = "Image name of the nodes (the most recent image with this name is used)."
  type        = string
  default     = "Ubuntu 24.04"
}

variable "image_user" {
  description = "Login user of the manager image."
  type        = string
  default     = "ubuntu"
}

variable "image_node_user" {
  description = "Login user of the node image."
  type        = string
  default     = "ubuntu"
}

variable "public" {
  description = "Name of the external network that provides the router gateway and floating IP."
  type        = string
  default     = "external"
}

variable "availability_zone" {
  description = "Compute availability zone of the VMs; null lets the cloud choose."
  type        = string
  default     = "nova"
}

variable "volume_availability_zone" {
  description = "Block storage availability zone of the volumes; null lets the cloud choose."
  type        = string
  default     = "nova"
}

variable "network_availability_zone" {
  description = "Network availability zone hint for network and router; null sends no hint."
  type        = string
  default     = "nova"
}

variable "volume_type" {
  description = "Volume type of data and boot volumes; null uses the cloud's default type."
  type        = string
  default     = null
}

variable "volume_size_base" {
  description = "Size in GB of the boot volumes (when booting from volume)."
  type        = number
  default     = 80

  validation {
    condition     = var.volume_size_base >= 20 && var.volume_size_base <= 2000 && floor(var.volume_size_base) == var.volume_size_base
    error_message = "volume_size_base must be a whole number of GB between 20 and 2000."
  }
}

variable "volume_size_storage" {
  description = "Size in GB of each data volume of a node (Ceph OSDs)."
  type        = number
  default     = 20

  validation {
    condition     = var.volume_size_storage >= 10 && var.volume_size_storage <= 2000 && floor(var.volume_size_storage) == var.volume_size_storage
    error_message = "volume_size_storage must be a whole number of GB between 10 and 2000 (Ceph needs more than 10 GB)."
  }
}

variable "number_of_nodes" {
  description = "Number of hyperconverged node VMs: node-0..2 are the control nodes, node-3.. the resource nodes."
  type        = number
  default     = 3

  validation {
    condition     = var.number_of_nodes >= 3 && var.number_of_nodes <= 10 && floor(var.number_of_nodes) == var.number_of_nodes
    error_message = "number_of_nodes must be a whole number from 3 to 10: the testbed's configuration repository makes node-0..2 the control nodes and has host_vars for node-0..node-9 only."
  }
}

variable "number_of_volumes" {
  description = "Data volumes per node; 0 for flavors with local disks."
  type        = number
  default     = 3

  validation {
    condition     = var.number_of_volumes >= 0 && var.number_of_volumes <= 10 && floor(var.number_of_volumes) == var.number_of_volumes
    error_message = "number_of_volumes must be a whole number between 0 and 10."
  }
}

variable "manager_boot_from_volume" {
  description = "Boot the manager from a volume of volume_size_base GB instead of the flavor's disk."
  type        = bool
  default     = false
}

variable "node_boot_from_volume" {
  description = "Boot the nodes from volumes of volume_size_base GB instead of the flavor's disk."
  type        = bool
  default     = false
}

variable "enable_config_drive" {
  description = "Attach a config drive (for clouds without a metadata service)."
  type        = bool
  default     = true
}

variable "dns_nameservers" {
  description = "DNS servers of the management subnet."
  type        = list(string)
  default     = ["8.8.8.8", "9.9.9.9"]

  validation {
    condition     = alltrue([for ns in var.dns_nameservers : can(cidrhost("${ns}/32", 0))])
    error_message = "dns_nameservers must be IPv4 addresses."
  }
}

variable "management_cidr" {
  description = "CIDR of the management network (manager .5, node-N .10+N, VIPs .8/.9/.254). Fixed: the configuration repository hard-codes it."
  type        = string
  default     = "192.168.16.0/20"

  validation {
    condition     = var.management_cidr == "192.168.16.0/20"
    error_message = "management_cidr must be 192.168.16.0/20: the testbed's configuration repository hard-codes the manager (192.168.16.5), the nodes (192.168.16.1N) and the VIPs (.8, .9, .254) in its host_vars and inventory."
  }
}

variable "mtu" {
  description = "MTU of the management network; null lets the cloud choose (some clouds need e.g. 1400)."
  type        = number
  default     = null

  validation {
    condition     = var.mtu == null || (coalesce(var.mtu, 0) >= 1280 && coalesce(var.mtu, 0) <= 9000)
    error_message = "mtu must be between 1280 and 9000, or null."
  }
}

variable "router_enable_snat" {
  description = "enable_snat of the router gateway; null does not send it (some clouds forbid it)."
  type        = bool
  default     = null
}

variable "port_security_enabled" {
  description = "Port security of the network and ports; null leaves the cloud's default. false drops security groups and allowed address pairs."
  type        = bool
  default     = true
}

variable "allowed_ssh_cidrs" {
  description = "Source CIDRs allowed to reach SSH (22/tcp) and WireGuard (51820/udp) on the manager."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.allowed_ssh_cidrs) > 0 && alltrue([for c in var.allowed_ssh_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_ssh_cidrs must be a non-empty list of IPv4 CIDRs, like [\"203.0.113.0/24\"]."
  }
}

variable "configuration_version" {
  description = "Branch, tag or commit of the testbed configuration repository."
  type        = string
  default     = "main"
}

variable "configuration_repository" {
  description = "Git URL of the testbed configuration repository cloned to /opt/configuration."
  type        = string
  default     = "https://github.com/osism/testbed.git"
}

# Versions that exist in osism/release (commit a4a02260, 2026-08-21): the release directories
# for a pinned manager, latest/ceph-*.yml and latest/openstack-*.yml for manager "latest".
# The defaults are the reference's own (osism/testbed Makefile: VERSION_CEPH ?= reef,
# VERSION_MANAGER ?= latest, VERSION_OPENSTACK ?= 2024.2). A pinned manager brings its own
# Ceph and OpenStack releases (scripts/deploy/000-manager.sh sets ceph_version and
# openstack_version only for "latest"): the pair is checked against versions.json (a copy of
# osism/release's file names) by a precondition in compute.tf.
variable "manager_version" {
  description = "OSISM manager version: latest, or a release of osism/release such as 10.0.0."
  type        = string
  default     = "latest"

  validation {
    condition = contains([
      "latest", "7.0.0", "7.0.1", "7.0.2", "7.0.3", "7.0.4", "7.0.5", "7.1.0", "7.1.1", "7.1.2",
      "7.1.3", "8.0.0", "8.0.1", "8.0.2", "8.1.0", "9.0.0", "9.1.0", "9.2.0", "9.3.0", "9.3.1",
      "9.4.0", "9.5.0", "10.0.0", "10.1.0", "10.2.0",
    ], var.manager_version)
    error_message = "manager_version must be latest or a release of osism/release from 7.0.0 on (7.0.0 .. 10.2.0)."
  }
}

variable "ceph_version" {
  description = "Ceph release (osism/release latest/ceph-*.yml for manager_version latest; a pinned manager brings its own)."
  type        = string
  default     = "reef"

  validation {
    condition     = contains(["quincy", "reef", "squid"], var.ceph_version)
    error_message = "ceph_version must be one of quincy, reef, squid (osism/release latest/ceph-*.yml)."
  }
}

variable "openstack_version" {
  description = "OpenStack release (osism/release latest/openstack-*.yml for manager_version latest; a pinned manager brings its own)."
  type        = string
  default     = "2024.2"

  validation {
    condition     = contains(["2023.2", "2024.1", "2024.2", "2025.1", "2025.2", "2026.1"], var.openstack_version)
    error_message = "openstack_version must be one of 2023.2, 2024.1, 2024.2, 2025.1, 2025.2, 2026.1 (the OpenStack releases osism/release knows from manager 7.0.0 on)."
  }
}

variable "tempest" {
  description = "TEMPEST in /opt/manager-vars.sh: true leaves out the extended OpenStack services (scripts/deploy/300-openstack.sh)."
  type        = bool
  default     = false
}

variable "ara" {
  description = "ARA in /opt/manager-vars.sh: false disables the ARA service on the manager (the reference's scripts/deploy-manager.sh)."
  type        = bool
  default     = true
}

variable "external_api" {
  description = "EXTERNAL_API in /opt/manager-vars.sh: the reference's external-API customisation (public API through the floating IP)."
  type        = bool
  default     = false
}

# External sources of the bootstrap. Empty means the public default of each tool; set them
# for clouds with restricted egress (sovereign, air-gapped) or a local mirror.
variable "apt_proxy" {
  description = "HTTP proxy for apt on the manager and the nodes (\"\" = none)."
  type        = string
  default     = ""
}

variable "apt_mirror" {
  description = "Primary apt mirror URI of the manager and the nodes (\"\" = the image's own)."
  type        = string
  default     = ""
}

variable "pypi_index_url" {
  description = "Python package index for /opt/venv (\"\" = pip's default index)."
  type        = string
  default     = ""
}

variable "ansible_galaxy_server" {
  description = "Ansible collection server for ansible.netcommon, ansible.posix, community.docker (\"\" = ansible-galaxy's default)."
  type        = string
  default     = ""
}

variable "collections_repository_base" {
  description = "Base URL of the git repositories ansible-collection-commons and ansible-collection-services."
  type        = string
  default     = "https://github.com/osism"
}

variable "container_registry_mirror" {
  description = "Registry mirror for Docker on the manager (docker_registry_mirrors; \"\" = none)."
  type        = string
  default     = ""
}

variable "deploy_mode" {
  description = "How far the in-VM bootstrap goes: manager, ceph, openstack or full (with monitoring)."
  type        = string
  default     = "full"

  validation {
    condition     = contains(["manager", "ceph", "openstack", "full"], var.deploy_mode)
    error_message = "deploy_mode must be one of manager, ceph, openstack, full."
  }
}
