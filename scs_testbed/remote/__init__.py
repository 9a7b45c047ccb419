"""Everything that talks to the testbed's VMs: SSH, the progress protocol, watch, tunnel, console.

Heavy libraries (paramiko, openstacksdk) are imported inside functions so that `--help` stays fast.
"""
