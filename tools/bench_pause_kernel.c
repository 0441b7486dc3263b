// SPDX-License-Identifier: MIT
/*
 * kernel-ioctl: the 2022 KVM_KICK_ALL_RUNNING_VCPUS series' own usage of its
 * ioctls, without the library.  The VMM calls KVM_KICK_ALL_RUNNING_VCPUS on the
 * VM fd (it returns once no vCPU is in guest mode; a vCPU that enters KVM_RUN
 * meanwhile sleeps inside it), issues its memslot ioctls (reading the dirty log
 * of what goes away first when migrating), then KVM_RESUME_ALL_KICKED_VCPUS.
 * The vCPU threads just loop on KVM_RUN: no hooks, no signal.  The ioctls exist
 * only in this project's patched KVM modules (kernel/); elsewhere the line is unavailable.
 *
 * Pause latency: the kick ioctl, call to return.  A kick "had to stop a
 * running vCPU" when some vCPU made guest progress since the last resume
 * (it was back in the guest); a vCPU still on its way back sleeps in
 * KVM_RUN without having run, and the kick costs next to nothing.
 * kvmhold-kernel (bench_strategies.c) counts its stops the same way.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "bench.h"
#include "kvm_kick_abi.h"

const char *kick_ioctl_unavailable(void)
{
	static int have = -1;        /* -1: not asked yet */

	if (have < 0)
		have = bench_kvm_cap(KVM_CAP_KICK_ALL_RUNNING_VCPUS) > 0;
	return have ? NULL : "KVM lacks KVM_CAP_KICK_ALL_RUNNING_VCPUS";
}

int kick_ioctl_kick(int vm_fd)
{
	return ioctl(vm_fd, KVM_KICK_ALL_RUNNING_VCPUS, 0) < 0 ? -errno : 0;
}

int kick_ioctl_resume(int vm_fd)
{
	return ioctl(vm_fd, KVM_RESUME_ALL_KICKED_VCPUS, 0) < 0 ? -errno : 0;
}

int progress_setup(struct strat_ctx *c)
{
	c->state = calloc(TVM_MAX_VCPUS, sizeof(uint64_t));
	return c->state ? 0 : -ENOMEM;
}

int kick_ioctl_check_backend(struct kvmhold_vm *vm)
{
	struct kvmhold_stats st;
	int r = kvmhold_stats_get(vm, &st, sizeof(st));

	if (r)
		return r;
	return st.kick_backend == KVMHOLD_KICK_KERNEL ? 0 : -EOPNOTSUPP;
}

/* c->state: each vCPU's progress right after the last resume (bvm_progress_all). */
static int kick_pause(struct strat_ctx *c, uint64_t *pause_ns, bool *kicked)
{
	uint64_t t0 = bench_now_ns();
	int r = kick_ioctl_kick(c->m->vm_fd);

	*pause_ns = bench_now_ns() - t0;
	*kicked = bvm_moved_since(c->m, c->state);
	return r;
}

static void kick_resume(struct strat_ctx *c)
{
	/* Only fails (EINVAL) if the VM is not kicked: nothing to undo then. */
	kick_ioctl_resume(c->m->vm_fd);
	bvm_progress_all(c->m, c->state);
}

const struct strategy strat_kernel_ioctl = {
	.name = "kernel-ioctl",
	.what = "the 2022 KVM_KICK_ALL_RUNNING_VCPUS series' ioctls, no library: "
		"KVM_KICK_ALL_RUNNING_VCPUS, the memslot ioctls, KVM_RESUME_ALL_KICKED_VCPUS; "
		"vCPUs just loop on KVM_RUN",
	.raw_layout = true,
	.unavailable = kick_ioctl_unavailable,
	.setup = progress_setup,
	.pause = kick_pause,
	.resume = kick_resume,
	.apply = raw_apply,
	.teardown = state_free,
};
