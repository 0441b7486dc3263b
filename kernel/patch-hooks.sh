#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Inserts kvm_kick's hooks into an unpacked copy of Debian's KVM sources
# (linux-source-6.1: arch/x86/kvm and virt/kvm under DIR).  Every hook is
# placed at a named anchor: an exact source line, searched for either in
# the whole file (where it must occur exactly once) or as the first match
# after the start of a named function.  If an anchor is missing, or the
# tree already has the hooks, nothing is written and the script fails.
#
# usage: kernel/patch-hooks.sh DIR
#
# The hooks (all in arch/x86/kvm):
#   x86.c     #include "kvm_kick.h"
#   x86.c     kvm_ops_update():   reserve the per-VM state (vm_size)
#   x86.c     kvm_arch_init_vm(): initialise it
#   x86.c     vcpu_run():         kvm_kick_enter()/kvm_kick_exit() around
#                                 vcpu_enter_guest()
#   x86.c     kvm_arch_vcpu_ioctl_run(): the same around the completion of
#                                 a userspace exit (complete_userspace_io),
#                                 which may write guest memory
#   x86.c     kvm_vm_ioctl_check_extension(): the capability
#   x86.c     kvm_arch_vm_ioctl(): the two ioctls
#   Makefile  kvm_kick.o in kvm.ko

set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
kvm=$1/arch/x86/kvm
x86=$kvm/x86.c
mk=$kvm/Makefile
for f in "$x86" "$mk"; do
	[ -f "$f" ] || { echo "patch-hooks: $f not found" >&2; exit 1; }
done
if grep -q kvm_kick "$x86" "$mk"; then
	echo "patch-hooks: $kvm already has the kvm_kick hooks" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvm-kick-hooks.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$x86" "$tmp/x86.c"
cp "$mk" "$tmp/Makefile"

# hook FILE MODE SCOPE ANCHOR TEXT
#   MODE   after | before | replace
#   SCOPE  '' (ANCHOR must occur exactly once in FILE), or the beginning of
#          the line that starts the function holding ANCHOR (the first
#          ANCHOR between it and the function's closing "}" is used)
#   ANCHOR an exact line (tabs included)
#   TEXT   the lines to insert (printf %b escapes: \t, \n)
hook() {
	file=$1 mode=$2 scope=$3 anchor=$4
	text=$(printf '%b' "$5")
	HOOK_MODE=$mode HOOK_SCOPE=$scope HOOK_ANCHOR=$anchor HOOK_TEXT=$text \
	awk '
		BEGIN {
			mode = ENVIRON["HOOK_MODE"]; scope = ENVIRON["HOOK_SCOPE"]
			anchor = ENVIRON["HOOK_ANCHOR"]; text = ENVIRON["HOOK_TEXT"]
			# state: 0 before the function, 1 inside, 2 after it
			state = (scope == "") ? 1 : 0; seen = 0; done = 0
		}
		state == 0 && index($0, scope) == 1 { state = 1 }
		state == 1 && scope != "" && $0 == "}" { state = 2 }
		state == 1 && $0 == anchor {
			seen++
			if (!done && (scope == "" || seen == 1)) {
				done = 1
				if (mode == "before")
					print text
				if (mode == "replace") {
					print text
					next
				}
				print
				if (mode == "after")
					print text
				next
			}
		}
		{ print }
		END { exit (seen == 0 ? 3 : (scope == "" && seen > 1) ? 4 : 0) }
	' "$file" > "$file.new" || {
		rc=$?
		case $rc in
		3) why="not found" ;;
		4) why="found more than once" ;;
		*) why="awk failed ($rc)" ;;
		esac
		echo "patch-hooks: $(basename "$file"): anchor ${scope:+in '$scope'... }'$anchor' $why" >&2
		exit 1
	}
	mv "$file.new" "$file"
}

X=$tmp/x86.c
hook "$X" after '' '#include "x86.h"' \
	'#include "kvm_kick.h"'
hook "$X" after 'static inline void kvm_ops_update(' \
	'	memcpy(&kvm_x86_ops, ops->runtime_ops, sizeof(kvm_x86_ops));' \
	'	kvm_kick_reserve(&kvm_x86_ops.vm_size);'
hook "$X" before 'int kvm_arch_init_vm(struct kvm *kvm' \
	'	ret = kvm_page_track_init(kvm);' \
	'	kvm_kick_init_vm(kvm);\n'
hook "$X" replace 'static int vcpu_run(struct kvm_vcpu *vcpu)' \
	'			r = vcpu_enter_guest(vcpu);' \
	'			r = kvm_kick_enter(vcpu);\n\t\t\tif (!r) {\n\t\t\t\tr = vcpu_enter_guest(vcpu);\n\t\t\t\tkvm_kick_exit(vcpu);\n\t\t\t}'
hook "$X" replace 'int kvm_arch_vcpu_ioctl_run(struct kvm_vcpu *vcpu)' \
	'		r = cui(vcpu);' \
	'		r = kvm_kick_enter(vcpu);\n\t\tif (r) {\n\t\t\tvcpu->arch.complete_userspace_io = cui;\n\t\t\tgoto out;\n\t\t}\n\t\tr = cui(vcpu);\n\t\tkvm_kick_exit(vcpu);'
hook "$X" after 'int kvm_vm_ioctl_check_extension(struct kvm *kvm' \
	'	switch (ext) {' \
	'	case KVM_CAP_KICK_ALL_RUNNING_VCPUS:\n\t\tr = KVM_KICK_CAP_TO_USERSPACE;\n\t\tbreak;'
hook "$X" after 'long kvm_arch_vm_ioctl(struct file *filp' \
	'	switch (ioctl) {' \
	'	case KVM_KICK_ALL_RUNNING_VCPUS:\n\tcase KVM_RESUME_ALL_KICKED_VCPUS:\n\t\tr = kvm_kick_vm_ioctl(kvm, ioctl, arg);\n\t\tbreak;'

hook "$tmp/Makefile" after '' 'obj-$(CONFIG_KVM)	+= kvm.o' \
	'kvm-y			+= kvm_kick.o'

# Every hook applied: write both files.
cp "$tmp/x86.c" "$x86"
cp "$tmp/Makefile" "$mk"
echo "patch-hooks: 8 hooks inserted in $kvm"
