# SPDX-License-Identifier: MIT
#
# tests/vmm.mk: the tiny test VMM (tests/vmm/*.c, host code) and its guests
# (tests/guest/, freestanding x86-64 code), included by the top Makefile.
#
#   $(TVMM_LIB)   libtvmm.a: the host harness plus the embedded guest image
#   $(TVMM_HDRS)  headers test programs depend on
#
# The guest is built with its own flags (never $(ALL_CFLAGS): no sanitizers,
# no host ABI assumptions), linked at a fixed address by guest.lds, flattened
# with objcopy and pulled into the host library by guest_blob.S (.incbin).

OBJCOPY       ?= objcopy

TVMM_HDRS     := $(SRCDIR)/tests/vmm/tvm.h $(SRCDIR)/tests/guest/tvm_abi.h
TVMM_LIB      := $(O)/tests/libtvmm.a

# ---- guest ----------------------------------------------------------------
GUEST_DIR     := $(O)/tests/guest
GUEST_SRCS    := $(wildcard $(SRCDIR)/tests/guest/*.c) \
                 $(wildcard $(SRCDIR)/tests/guest/*.S)
GUEST_OBJS    := $(patsubst $(SRCDIR)/tests/guest/%,$(GUEST_DIR)/%.o,$(GUEST_SRCS))
GUEST_HDRS    := $(wildcard $(SRCDIR)/tests/guest/*.h)
GUEST_LDS     := $(SRCDIR)/tests/guest/guest.lds
GUEST_ELF     := $(GUEST_DIR)/guest.elf
GUEST_BIN     := $(GUEST_DIR)/guest.bin

# -ffile-prefix-map: GUEST_ASSERT's __FILE__ reads tests/guest/x.c wherever
# the tree is.
GUEST_CFLAGS  := -std=gnu11 -O2 -g -ffreestanding -fno-pic -fno-pie \
                 -mno-red-zone -mgeneral-regs-only -fno-stack-protector \
                 -fno-asynchronous-unwind-tables -fno-unwind-tables \
                 -fcf-protection=none -ffile-prefix-map=$(SRCDIR)/= \
                 -Wall -Wextra -Werror -Wmissing-prototypes \
                 -Wstrict-prototypes -Wshadow -Wundef -Wvla
# -static without -pie gives a fixed-address ELF with gcc and clang alike.
GUEST_LDFLAGS := -nostdlib -static -Wl,-T,$(GUEST_LDS) -Wl,--build-id=none \
                 -Wl,-z,noexecstack

$(GUEST_DIR)/%.c.o: $(SRCDIR)/tests/guest/%.c $(GUEST_HDRS) $(SRCDIR)/tests/vmm.mk
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_DIR)/%.S.o: $(SRCDIR)/tests/guest/%.S $(GUEST_HDRS) $(SRCDIR)/tests/vmm.mk
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_ELF): $(GUEST_OBJS) $(GUEST_LDS)
	$(CC) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJS)

$(GUEST_BIN): $(GUEST_ELF)
	$(OBJCOPY) -O binary $< $@

# ---- host -----------------------------------------------------------------
TVMM_SRCS     := $(wildcard $(SRCDIR)/tests/vmm/*.c)
TVMM_OBJS     := $(patsubst $(SRCDIR)/tests/vmm/%.c,$(O)/tests/vmm/%.o,$(TVMM_SRCS)) \
                 $(O)/tests/vmm/guest_blob.o

$(O)/tests/vmm/%.o: $(SRCDIR)/tests/vmm/%.c $(TVMM_HDRS) $(SRCDIR)/include/kvmhold.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(SRCDIR)/tests/vmm -c -o $@ $<

$(O)/tests/vmm/guest_blob.o: $(SRCDIR)/tests/vmm/guest_blob.S $(GUEST_BIN)
	@mkdir -p $(dir $@)
	$(CC) -DTVM_GUEST_BIN='"$(GUEST_BIN)"' -c -o $@ $<

$(TVMM_LIB): $(TVMM_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^
