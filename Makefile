# SPDX-License-Identifier: GPL-2.0
#
# nfckpt: conntrack checkpoint/restore.  A wrapper around Kbuild for the two
# modules plus the ckptctl tool, the VM test suite and the benchmarks.

KERNELS	:= $(shell sed -e 's/\#.*//' -e '/^[[:space:]]*$$/d' scripts/kernels)
KVER	?= $(firstword $(KERNELS))
KDIR	?= /lib/modules/$(KVER)/build
BUILD	:= $(CURDIR)/build/$(KVER)
W	?=
PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
DEPMOD	?= depmod

export KVER

.PHONY: all modules tools clean install uninstall deps check stress bench demo \
	modules-all style

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

clean:
	rm -rf build
	$(MAKE) -C tools/ckptctl clean

install: all
	$(MAKE) -C $(KDIR) M=$(BUILD) INSTALL_MOD_DIR=updates/nfckpt modules_install
	$(DEPMOD) -a $(KVER)
	$(MAKE) -C tools/ckptctl install SBINDIR=$(SBINDIR) MANDIR=$(MANDIR)

uninstall:
	rm -rf /lib/modules/$(KVER)/updates/nfckpt
	$(DEPMOD) -a $(KVER)
	$(MAKE) -C tools/ckptctl uninstall SBINDIR=$(SBINDIR) MANDIR=$(MANDIR)

deps:
	scripts/deps

# The whole suite, in qemu, once per kernel of the matrix.
check:
	scripts/check

stress:
	scripts/check --stress

style:
	scripts/style
