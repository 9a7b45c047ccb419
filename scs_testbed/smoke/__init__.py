"""The smoke suite: pytest checks (testinfra for hosts, openstacksdk for the API) and its runner.

`suite` builds the pytest argument list (a pure function), runs it through `runner` and turns
the JUnit result into a verdict; `checks/` is the suite itself; `findings` holds the pure
judgements the checks make, so they are tested without a testbed.
"""
