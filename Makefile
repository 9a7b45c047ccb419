# Common jobs. `make help` lists them. Lifecycle wrappers follow the SCS testbed's habits:
#   make deploy ENVIRONMENT=regiocloud    make clean ENVIRONMENT=regiocloud
PYTHON      ?= python3
ENVIRONMENT ?= local
NAME        ?=
RECORD      ?=
PYTEST_ARGS ?=
NAME_ARG     = $(if $(NAME),--name $(NAME),)

.PHONY: help install dev provider tofu test test-unit test-terraform test-netns test-localcloud \
        lint fmt bench check plan deploy status clean localcloud-up localcloud-down demo

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

install: ## install scs-testbed (pip install .)
	$(PYTHON) -m pip install .

dev: ## editable install with test and lint tools
	$(PYTHON) -m pip install -e '.[dev]'

provider: ## build terraform-provider-openstack from its Go module into the test mirror
	tests/tools/build-provider

tofu: ## build the OpenTofu CLI from its Go module for the tests (~5 min cold)
	tests/tools/build-tofu

test: ## run every test tier (tiers whose needs are missing skip with a reason)
	$(PYTHON) tests/tools/run-tests $(PYTEST_ARGS)

test-unit: ## fast tests only
	$(PYTHON) -m pytest -m unit $(PYTEST_ARGS)

test-terraform: ## real Terraform on the real module
	$(PYTHON) -m pytest tests/terraform $(PYTEST_ARGS)

test-netns: ## network-namespace hosts with real sshd / sshuttle (root)
	$(PYTHON) -m pytest tests/netns $(PYTEST_ARGS)

test-localcloud: ## against the local cloud (root; scs-testbed localcloud up)
	$(PYTHON) -m pytest tests/localcloud $(PYTEST_ARGS)

lint: ## ruff + mypy + the import layers (lint-imports, docs/architecture.md)
	ruff check scs_testbed tests benchmarks
	ruff format --check scs_testbed tests benchmarks
	mypy
	lint-imports --no-cache

fmt: ## format Python and HCL
	ruff format scs_testbed tests benchmarks
	ruff check --fix scs_testbed tests benchmarks
	@command -v terraform >/dev/null && terraform fmt -recursive terraform || true

bench: ## print the benchmark figures
	$(PYTHON) benchmarks/run.py

check: ## preflight ENVIRONMENT against its cloud
	scs-testbed check -e $(ENVIRONMENT)

plan: ## plan ENVIRONMENT
	scs-testbed plan -e $(ENVIRONMENT) $(NAME_ARG)

deploy: ## deploy ENVIRONMENT (preflight first)
	scs-testbed deploy -e $(ENVIRONMENT) $(NAME_ARG)

status: ## status of the testbed of ENVIRONMENT
	scs-testbed status $(if $(NAME),$(NAME),--env $(ENVIRONMENT))

clean: ## destroy the testbed of ENVIRONMENT (nothing left behind)
	scs-testbed destroy $(if $(NAME),$(NAME),--env $(ENVIRONMENT)) --yes

localcloud-up: ## start the local OpenStack (root)
	scs-testbed localcloud up

localcloud-down: ## stop the local OpenStack
	scs-testbed localcloud down

demo: ## as root: local cloud, then check, deploy, ssh, watch, tunnel, destroy (NAME=, RECORD=FILE.cast)
	NAME='$(NAME)' RECORD='$(RECORD)' bash tests/tools/demo
