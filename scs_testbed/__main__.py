from scs_testbed.cli import main

main()
