"""The smoke checks (run by pytest through `scs_testbed.smoke.suite`, not imported otherwise)."""
