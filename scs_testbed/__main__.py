from scs_testbed.cli.entry import main

main()
