from scs_testbed.cli.application import main

main()
