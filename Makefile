# SPDX-License-Identifier: GPL-2.0
#
# nfckpt: conntrack checkpoint/restore.  A wrapper around Kbuild for the two
# modules plus the ckptctl tool, the VM test suite and the benchmarks.

KERNELS	:= $(shell sed -e 's/\#.*//' -e '/^[[:space:]]*$$/d' scripts/kernels)
# The running kernel when its headers are installed (a router's `make &&
# make install`), else the first of the test matrix.
RUNNING	:= $(shell uname -r)
KVER	?= $(if $(wildcard /lib/modules/$(RUNNING)/build/Makefile),$(RUNNING),$(firstword $(KERNELS)))
KDIR	?= /lib/modules/$(KVER)/build
BUILD	:= $(CURDIR)/build/$(KVER)
W	?=
PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
DEPMOD	?= depmod
UNITDIR	?= $(PREFIX)/lib/systemd/system
UNITS	:= nfckpt.service nfckpt-save.service nfckpt-save.timer
NFCKPT_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' dkms.conf)
DKMS_SRC = $(DESTDIR)/usr/src/nfckpt-$(NFCKPT_VERSION)
DKMS_KVER ?= $(shell uname -r)
DKMS_MV	= -m nfckpt -v $(NFCKPT_VERSION)

export KVER

.PHONY: all modules tools clean install uninstall deps check stress bench demo \
	modules-all style install-modules install-user uninstall-modules \
	uninstall-user dkms-src dkms-install dkms-uninstall

all: modules tools

# Kbuild writes objects next to the sources; a per-kernel tree of symlinks
# keeps the 6.1 and 6.12 builds apart.
modules:
	@test -d $(KDIR) || { echo "make: no headers for $(KVER) in $(KDIR): run 'make deps'" >&2; exit 1; }
	@mkdir -p $(BUILD)
	@find $(BUILD) -xtype l -delete
	@cp -rsf $(CURDIR)/kmod/. $(BUILD)/
	$(MAKE) -C $(KDIR) M=$(BUILD) W=$(W) modules

modules-all:
	@set -e; for k in $(KERNELS); do $(MAKE) --no-print-directory KVER=$$k modules; done

tools:
	$(MAKE) -C tools/ckptctl
	$(MAKE) -C tools/ctinject

clean:
	rm -rf build
	$(MAKE) -C tools/ckptctl clean

# install: the modules into /lib/modules/$(KVER)/updates/nfckpt (install-
# modules), ckptctl and ckptctl(8) (tools/ckptctl/Makefile), nfckpt-state
# and the systemd units of contrib/systemd, not enabled (install-user).
# DESTDIR stages all of it and skips depmod and systemctl.
install: install-modules install-user

install-modules: modules
	$(MAKE) -C $(KDIR) M=$(BUILD) INSTALL_MOD_PATH=$(DESTDIR) \
		INSTALL_MOD_DIR=updates/nfckpt modules_install
	$(if $(DESTDIR),,$(DEPMOD) -a $(KVER))

install-user: tools
	$(MAKE) -C tools/ckptctl install SBINDIR=$(SBINDIR) MANDIR=$(MANDIR)
	install -D -m 0755 contrib/systemd/nfckpt-state $(DESTDIR)$(SBINDIR)/nfckpt-state
	@mkdir -p build/contrib
	@set -e; for u in $(UNITS); do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' contrib/systemd/$$u >build/contrib/$$u; \
		install -D -m 0644 build/contrib/$$u $(DESTDIR)$(UNITDIR)/$$u; \
		echo "installed $(DESTDIR)$(UNITDIR)/$$u"; \
	done
	$(if $(DESTDIR),,@if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi)

uninstall: uninstall-user uninstall-modules

uninstall-modules:
	rm -rf $(DESTDIR)/lib/modules/$(KVER)/updates/nfckpt
	$(if $(DESTDIR),,$(DEPMOD) -a $(KVER))

uninstall-user:
	$(if $(DESTDIR),,@if command -v systemctl >/dev/null; then \
		systemctl disable $(UNITS) >/dev/null 2>&1 || true; fi)
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) $(DESTDIR)$(SBINDIR)/nfckpt-state
	$(if $(DESTDIR),,@if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi)
	$(MAKE) -C tools/ckptctl uninstall SBINDIR=$(SBINDIR) MANDIR=$(MANDIR)

# DKMS (dkms.conf).  dkms-src copies what dkms builds from to
# /usr/src/nfckpt-<version>.  dkms-install (re)registers it with dkms,
# which builds and installs the modules for DKMS_KVER (default: the running
# kernel) and, by itself, for kernels installed later (AUTOINSTALL); then
# install-user.  dkms-uninstall removes the modules from every kernel, the
# source tree and what install-user installed.
DKMS_REMOVE = if dkms status $(DKMS_MV) | grep -q .; then dkms remove $(DKMS_MV) --all; fi

dkms-src:
	@test -n "$(NFCKPT_VERSION)" || { echo "make: no PACKAGE_VERSION in dkms.conf" >&2; exit 1; }
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)/scripts
	cp -R dkms.conf Makefile kmod $(DKMS_SRC)/
	cp scripts/kernels $(DKMS_SRC)/scripts/

dkms-install:
	$(DKMS_REMOVE)
	$(MAKE) --no-print-directory dkms-src
	dkms add $(DKMS_MV)
	dkms install $(DKMS_MV) -k $(DKMS_KVER)
	$(MAKE) --no-print-directory install-user

dkms-uninstall: uninstall-user
	$(DKMS_REMOVE)
	rm -rf $(DKMS_SRC)

deps:
	scripts/deps

# The whole suite, in qemu, once per kernel of the matrix.
check:
	scripts/check

stress:
	scripts/check --stress

# The crash experiment with and without nfckpt, its verdict and a plot
# (build/demo/demo.png).
demo:
	scripts/demo

# The benchmarks in qemu for one kernel (KVER, default the first of
# scripts/kernels); BENCH_ARGS=--quick for a smoke test.
bench:
	scripts/bench --kernel $(KVER) $(BENCH_ARGS)

style:
	scripts/style
