// SPDX-License-Identifier: MIT
/*
 * `kvmhold-bench txn` (tools/README.md, "txn"): kvmhold_txn_commit() per kind
 * of operation with the vCPUs walking, next to ideal: the very ioctls the
 * commit issued (the difference of two kvmhold_regions() snapshots), by hand
 * with the vCPUs already stopped.  Both timed sides start from a guest that has
 * just walked all its memory, since what a DELETE costs KVM depends on what the
 * guest mapped since the last change; the operations run in pairs, so the
 * layout returns to where it started.  Also the kernel lines where KVM has
 * them, guest_memfd (bench_gmem.c) and the --slots sweep.
 */
#include <errno.h>
#include <string.h>

#include "bench.h"

#define MAX_REGIONS     RAW_TXN_MAX
#define TARGET_P50      1.2

/* What one_sample() measures. */
enum sample_mode {
	SAMPLE_SIGNAL,               /* the commit, then ideal */
	SAMPLE_SIGNAL_KICK,          /* the same, then kernel-ioctl */
	SAMPLE_KERNEL,               /* the commit alone (a kick = KERNEL VM): kvmhold-kernel */
};

struct txn_acc {
	struct samples kvmhold, ideal, kick, kh_kernel;
	uint64_t ioctls_kvmhold, ioctls_ideal, held, commits;
	unsigned diff_mismatch;
};

static int snapshot(struct bvm *m, const struct layout *l, struct kvmhold_region *out)
{
	int n = kvmhold_regions(m->vm, l->gpa, 4ull * l->pages * TVM_PAGE_SIZE, out, MAX_REGIONS);

	return n > MAX_REGIONS ? -E2BIG : n;
}

/*
 * The old layout back (held, untimed), every vCPU walks its pages again (as
 * before the commit), then fwd by hand, timed into s: the vCPUs stopped by a
 * hold (ideal; not timed) or by kernel-ioctl's kick and resume (timed).
 */
static int by_hand(struct bvm *m, const struct raw_txn *fwd, const struct raw_txn *back,
		   bool kick, unsigned *issued, struct samples *s)
{
	unsigned back_issued = 0;
	uint64_t t0, t1;
	int r = kvmhold_hold(m->vm, TXN_TIMEOUT_MS);

	if (!r) {
		r = raw_issue(m->vm_fd, back, &back_issued);
		kvmhold_release(m->vm);
	}
	if (!r)
		r = bvm_wait_all_passes(m, MOVE_TIMEOUT_MS);
	if (!r && !kick)
		r = kvmhold_hold(m->vm, TXN_TIMEOUT_MS);
	if (r)
		return r;
	t0 = bench_now_ns();
	r = kick ? kick_ioctl_kick(m->vm_fd) : 0;
	if (r)
		return r;
	r = raw_issue(m->vm_fd, fwd, issued);
	if (kick)
		kick_ioctl_resume(m->vm_fd);
	t1 = bench_now_ns();
	if (!kick)
		kvmhold_release(m->vm);
	return r ? r : samples_add(s, t1 - t0);
}

static int one_sample(struct bvm *m, const struct layout *l, enum bop op, struct txn_acc *acc,
		      enum sample_mode mode)
{
	struct kvmhold_region before[MAX_REGIONS], after[MAX_REGIONS];
	struct kvmhold_stats s0, s1;
	struct raw_txn fwd, back;
	unsigned issued = 0;
	uint64_t commit_ns;
	int nb, na, r;

	r = bvm_wait_all_passes(m, MOVE_TIMEOUT_MS);
	if (r)
		return r;
	nb = snapshot(m, l, before);
	if (nb < 0)
		return nb;
	kvmhold_stats_get(m->vm, &s0, sizeof(s0));
	r = kh_op(m->vm, l, op, TXN_TIMEOUT_MS, &commit_ns);
	if (r)
		return r;
	if (mode == SAMPLE_KERNEL)
		return samples_add(&acc->kh_kernel, commit_ns);
	kvmhold_stats_get(m->vm, &s1, sizeof(s1));
	na = snapshot(m, l, after);
	if (na < 0)
		return na;
	r = regions_diff(before, (unsigned)nb, after, (unsigned)na, &fwd);
	if (!r)
		r = regions_diff(after, (unsigned)na, before, (unsigned)nb, &back);
	if (r)
		return r;
	acc->commits++;
	acc->held += s1.txn_held_commits - s0.txn_held_commits;
	acc->ioctls_kvmhold += s1.last_txn_ioctls;
	acc->diff_mismatch += s1.last_txn_ioctls != fwd.n;
	r = samples_add(&acc->kvmhold, commit_ns);
	if (r)
		return r;
	r = by_hand(m, &fwd, &back, false, &issued, &acc->ideal);
	if (r)
		return r;
	acc->ioctls_ideal += issued;
	return mode == SAMPLE_SIGNAL_KICK ? by_hand(m, &fwd, &back, true, &issued, &acc->kick) : 0;
}

static int new_vm(unsigned vcpus, unsigned pages, unsigned extra, unsigned kick,
		  unsigned vm_flags, struct bvm **out, struct layout *l, uint64_t *setup_ns)
{
	struct bvm_opts bo = {
		.vcpus = vcpus, .program = GUEST_PROG_WALK, .walk_pages = pages,
		.region_pages = 4 * pages, .kick = kick, .vm_flags = vm_flags,
	};
	struct bvm *m;
	uint64_t t0;
	int r;

	r = bvm_create(&bo, &m);
	if (r)
		return r;
	r = kick == KVMHOLD_KICK_KERNEL ? kick_ioctl_check_backend(m->vm) : 0;
	*l = (struct layout){ .gpa = m->t->test_gpa, .hva = (uintptr_t)m->t->test_hva,
			      .pages = pages };
	if (!r)
		r = kh_initial(m->vm, l, false, false);
	t0 = bench_now_ns();
	if (!r)
		r = bvm_map_extra(m, extra, false);
	if (setup_ns)
		*setup_ns = bench_now_ns() - t0;
	if (!r)
		r = bvm_start(m, true, NULL, NULL, MOVE_TIMEOUT_MS);
	if (r)
		bvm_destroy(m);
	else
		*out = m;
	return r;
}

static void acc_to_result(struct txn_acc *acc, enum bop op, struct txn_op_result *o)
{
	o->op = op;
	stats_take(&o->kvmhold, &acc->kvmhold);
	stats_take(&o->ideal, &acc->ideal);
	o->commits = acc->commits;
	o->held = acc->held;
	o->ioctls_kvmhold = acc->commits ? (double)acc->ioctls_kvmhold / (double)acc->commits : 0;
	o->ioctls_ideal = o->ideal.n ? (double)acc->ioctls_ideal / (double)o->ideal.n : 0;
	o->diff_mismatch = acc->diff_mismatch;
	o->r50 = bench_ratio(o->kvmhold.p50, o->ideal.p50);
	o->met = o->kvmhold.n && o->r50 <= TARGET_P50;
	stats_take(&o->kick, &acc->kick);
	stats_take(&o->kh_kernel, &acc->kh_kernel);
	o->r50_kick = bench_ratio(o->kick.p50, o->ideal.p50);
	o->r50_kh_kernel = bench_ratio(o->kh_kernel.p50, o->ideal.p50);
}

/* The operation kinds reported, in order; move covers both directions. */
static const enum bop pairs[][2] = {
	{ BOP_SPLIT, BOP_MERGE }, { BOP_GROW, BOP_SHRINK }, { BOP_MOVE, BOP_MOVE_BACK },
	{ BOP_LOG_ON, BOP_LOG_OFF }, { BOP_MAP, BOP_UNMAP },
};
#define NR_PAIRS (sizeof(pairs) / sizeof(pairs[0]))

/* The first nr pairs, t->samples times, on VM m, then m's end (what: for the progress line). */
static int ops_pass(struct bvm *m, const struct layout *l, struct txn_result *t, unsigned nr,
		    struct txn_acc *acc, enum sample_mode mode, const char *what, char *err,
		    size_t size)
{
	unsigned p, k, j;
	int r = 0;

	for (p = 0; !r && p < nr; p++) {
		for (k = 0; !r && k < t->samples; k++) {
			for (j = 0; !r && j < 2; j++) {
				enum bop op = pairs[p][j] == BOP_MOVE_BACK ? BOP_MOVE : pairs[p][j];

				r = one_sample(m, l, pairs[p][j], &acc[op], mode);
				if (r)
					snprintf(err, size, "%s: %s", bop_name(pairs[p][j]),
						 strerror(-r));
			}
			if (!(k % 16))
				bench_progress("txn: %u vCPU(s)%s, %s/%s, %u/%u", t->vcpus, what,
					       bop_name(pairs[p][0]), bop_name(pairs[p][1]), k,
					       t->samples);
		}
	}
	bvm_stop(m);
	t->holes += bvm_holes(m);
	t->mismatches += bvm_mismatches(m);
	if (bvm_failure(m) && !err[0])
		snprintf(err, size, "guest: %s", bvm_failure(m));
	bvm_destroy(m);
	return r;
}

static int ops_run(unsigned vcpus, unsigned pages, struct txn_result *t)
{
	struct txn_acc acc[BOP__COUNT] = { 0 };
	/* Both kernel lines need what kernel-ioctl needs (KVM_CAP_KICK_ALL_RUNNING_VCPUS). */
	bool na = strategy_unavailable(&strat_kernel_ioctl, t->kernel_na, sizeof(t->kernel_na));
	struct layout l;
	struct bvm *m;
	unsigned p;
	int r;

	r = new_vm(vcpus, pages, 0, KVMHOLD_KICK_SIGNAL, t->vm_flags, &m, &l, NULL);
	if (r) {
		snprintf(t->error, sizeof(t->error), "creating the VM: %s", strerror(-r));
		return r;
	}
	r = ops_pass(m, &l, t, NR_PAIRS, acc, na ? SAMPLE_SIGNAL : SAMPLE_SIGNAL_KICK, "",
		     t->error, sizeof(t->error));
	if (!r && !na) {
		/* kvmhold-kernel: the same commits on a VM with the kernel kick backend. */
		r = new_vm(vcpus, pages, 0, KVMHOLD_KICK_KERNEL, t->vm_flags, &m, &l, NULL);
		if (r == -EOPNOTSUPP)
			snprintf(t->kernel_error, sizeof(t->kernel_error), "kvmhold-kernel: the "
				 "library did not choose the kernel kick backend (kick_backend)");
		else if (r)
			snprintf(t->kernel_error, sizeof(t->kernel_error), "kvmhold-kernel: "
				 "creating the VM: %s", strerror(-r));
		if (!r)
			r = ops_pass(m, &l, t, NR_PAIRS, acc, SAMPLE_KERNEL, ", kvmhold-kernel",
				     t->kernel_error, sizeof(t->kernel_error));
	}
	for (p = 0; p < BOP__COUNT; p++)
		if (p != BOP_MOVE_BACK)
			acc_to_result(&acc[p], (enum bop)p, &t->ops[t->nr_ops++]);
	return r;
}

/* Split and merge (the first pair) next to s->slots extra slots. */
static int slots_run(unsigned vcpus, unsigned pages, struct txn_slots_result *s,
		     struct txn_result *t)
{
	struct txn_acc acc[BOP__COUNT] = { 0 };
	struct layout l;
	struct bvm *m;
	char what[32];
	int r;

	r = new_vm(vcpus, pages, s->slots, KVMHOLD_KICK_SIGNAL, t->vm_flags, &m, &l, &s->setup_ns);
	if (r) {
		snprintf(s->error, sizeof(s->error), "%u slots: %s", s->slots, strerror(-r));
		return r;
	}
	snprintf(what, sizeof(what), ", %u slots", s->slots);
	r = ops_pass(m, &l, t, 1, acc, SAMPLE_SIGNAL, what, s->error, sizeof(s->error));
	stats_take(&s->split, &acc[BOP_SPLIT].kvmhold);
	stats_take(&s->ideal_split, &acc[BOP_SPLIT].ideal);
	stats_take(&s->merge, &acc[BOP_MERGE].kvmhold);
	stats_take(&s->ideal_merge, &acc[BOP_MERGE].ideal);
	return r;
}

int run_txn(const struct bench_opts *o, struct report *rep)
{
	static const unsigned def[] = { 2 };
	const unsigned *list = o->nr_vcpus ? o->vcpus : def;
	unsigned n = o->nr_vcpus ? o->nr_vcpus : 1, i, j;
	int failed = 0;

	for (i = 0; i < n && rep->nr_txn < BENCH_MAX_LIST; i++) {
		struct txn_result *t = &rep->txn[rep->nr_txn++];
		unsigned vcpus = list[i];
		unsigned pages = o->pages > vcpus ? o->pages : vcpus + (vcpus & 1);

		*t = (struct txn_result){ .vcpus = vcpus, .samples = o->samples,
					  .vm_flags = o->vm_flags };
		if (!o->samples_given && vcpus > 16)
			t->samples = t->samples / 4 ? t->samples / 4 : 1;
		failed |= ops_run(vcpus, pages, t) != 0;
		gmem_compare(t->samples, t);
		failed |= t->gmem_error[0] != 0;
		for (j = 0; j < o->nr_slots; j++) {
			struct txn_slots_result *s = &t->slots[t->nr_slots++];

			s->slots = o->slots[j];
			failed |= slots_run(vcpus, pages, s, t) != 0;
		}
		bench_progress_done();
		summary_txn(stdout, t);
	}
	return failed ? -EIO : 0;
}
