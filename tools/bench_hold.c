// SPDX-License-Identifier: MIT
/*
 * `kvmhold-bench hold` (tools/README.md, "hold"): kvmhold_hold(vm, -1),
 * call to return, with N busy vCPUs, next to the floor; where KVM has
 * KVM_CAP_KICK_ALL_RUNNING_VCPUS also kernel-ioctl and kvmhold-kernel.
 * All are measured in alternating blocks, so a change in the machine's
 * load hits them alike; before each sample every vCPU is back in the guest.
 */
#include <errno.h>
#include <string.h>

#include "bench.h"

#define BLOCKS          2
#define TARGET_P50      1.5
#define TARGET_P99      3.0

/*
 * nr samples of line s on a fresh VM: kvmhold and kvmhold-kernel hold (vCPUs on
 * tvm's threads, kvmhold_vcpu_run), kernel-ioctl kicks (vCPUs on raw KVM_RUN).
 * stop and signals: the library's own figures (kvmhold lines only; may be NULL).
 */
static int hold_block(unsigned vcpus, unsigned nr, const struct strategy *s, struct samples *hold,
		      struct samples *stop, uint64_t *signals)
{
	struct bvm_opts o = { .vcpus = vcpus, .program = GUEST_PROG_COUNT, .kick = s->kick };
	bool ioctl_kick = !s->tvm_loop;
	struct kvmhold_stats st0, st;
	struct bvm *m;
	unsigned k;
	int r;

	r = bvm_create(&o, &m);
	if (r)
		return r;
	r = s->kick == KVMHOLD_KICK_KERNEL ? kick_ioctl_check_backend(m->vm) : 0;
	if (!r)
		r = bvm_start(m, !ioctl_kick, NULL, NULL, MOVE_TIMEOUT_MS);
	if (!r)
		r = kvmhold_stats_get(m->vm, &st0, sizeof(st0));
	for (k = 0; !r && k < nr; k++) {
		uint64_t t0, t1;

		/* One stop of the VM, call to return: kvmhold_hold() or the kick ioctl. */
		t0 = bench_now_ns();
		r = ioctl_kick ? kick_ioctl_kick(m->vm_fd) : kvmhold_hold(m->vm, -1);
		t1 = bench_now_ns();
		if (r)
			break;
		kvmhold_stats_get(m->vm, &st, sizeof(st));
		r = ioctl_kick ? kick_ioctl_resume(m->vm_fd) : kvmhold_release(m->vm);
		if (!r)
			r = samples_add(hold, t1 - t0);
		if (!r && stop)
			r = samples_add(stop, st.last_hold_ns);
		if (!r)
			r = bvm_wait_all_moved(m, MOVE_TIMEOUT_MS);
		if (!(k % 16))
			bench_progress("hold: %u vCPU(s), %s, %zu samples", vcpus, s->name, hold->n);
	}
	if (!r && signals && !kvmhold_stats_get(m->vm, &st, sizeof(st)))
		*signals += st.signals_sent - st0.signals_sent;
	if (!r && bvm_failure(m))
		r = -EIO;
	if (r == -EIO && bvm_failure(m))
		bench_err("hold, %u vCPU(s), %s: %s", vcpus, s->name, bvm_failure(m));
	bvm_destroy(m);
	return r;
}

static void line_init(struct hold_line *l, const struct strategy *s)
{
	l->s = s;
	l->what = s == &strat_kernel_ioctl ?
		"KVM_KICK_ALL_RUNNING_VCPUS, call to return (vCPUs on raw KVM_RUN)" :
		"kvmhold_hold() with kick = KVMHOLD_KICK_KERNEL, call to return";
	strategy_unavailable(s, l->na, sizeof(l->na));
}

static void line_block(unsigned vcpus, unsigned nr, struct hold_line *l, struct samples *lat)
{
	int r;

	if (l->na[0] || l->error[0])
		return;
	r = hold_block(vcpus, nr, l->s, lat, NULL, NULL);
	if (r == -EOPNOTSUPP && l->s->kick == KVMHOLD_KICK_KERNEL)
		snprintf(l->error, sizeof(l->error), "the library did not choose the kernel kick "
			 "backend (kick_backend)");
	else if (r)
		snprintf(l->error, sizeof(l->error), "%s", strerror(-r));
}

static void hold_one(unsigned vcpus, unsigned samples, struct hold_result *h)
{
	struct samples floor = { 0 }, all = { 0 }, hold = { 0 }, stop = { 0 };
	struct samples lines[HOLD_LINES] = { { 0 } };
	unsigned b, i, per = (samples + BLOCKS - 1) / BLOCKS;
	uint64_t signals = 0;
	int r = 0;

	*h = (struct hold_result){ .vcpus = vcpus, .samples = samples };
	line_init(&h->lines[h->nr_lines++], &strat_kernel_ioctl);
	line_init(&h->lines[h->nr_lines++], &strat_kvmhold_kernel);
	for (b = 0; !r && b < BLOCKS; b++) {
		unsigned nr = samples - b * per < per ? samples - b * per : per;

		r = floor_measure(1, nr, &floor, &h->floor_resends);
		if (!r && vcpus > 1)
			r = floor_measure(vcpus, nr, &all, &h->floor_resends);
		if (r) {
			snprintf(h->error, sizeof(h->error), "floor: %s", strerror(-r));
			break;
		}
		r = hold_block(vcpus, nr, &strat_kvmhold, &hold, &stop, &signals);
		if (r)
			snprintf(h->error, sizeof(h->error), "kvmhold_hold: %s", strerror(-r));
		for (i = 0; !r && i < h->nr_lines; i++)
			line_block(vcpus, nr, &h->lines[i], &lines[i]);
	}
	bench_progress_done();
	stats_take(&h->floor, &floor);
	stats_take(&h->floor_all, &all);
	stats_take(&h->hold, &hold);
	stats_take(&h->stop, &stop);
	h->r50 = bench_ratio(h->hold.p50, h->floor.p50);
	h->r99 = bench_ratio(h->hold.p99, h->floor.p99);
	h->r50_all = bench_ratio(h->hold.p50, h->floor_all.p50);
	h->r99_all = bench_ratio(h->hold.p99, h->floor_all.p99);
	h->target_applies = vcpus <= 2;
	h->met = !r && h->r50 <= TARGET_P50 && h->r99 <= TARGET_P99;
	h->signals_per_hold_x100 = h->hold.n ? signals * 100 / h->hold.n : 0;
	for (i = 0; i < h->nr_lines; i++) {
		struct hold_line *l = &h->lines[i];

		stats_take(&l->lat, &lines[i]);
		l->r50 = bench_ratio(l->lat.p50, h->floor.p50);
		l->r99 = bench_ratio(l->lat.p99, h->floor.p99);
		l->r50_all = bench_ratio(l->lat.p50, h->floor_all.p50);
		l->r99_all = bench_ratio(l->lat.p99, h->floor_all.p99);
	}
}

int run_hold(const struct bench_opts *o, struct report *rep)
{
	static const unsigned def[] = { 1, 2 };
	const unsigned *list = o->nr_vcpus ? o->vcpus : def;
	unsigned n = o->nr_vcpus ? o->nr_vcpus : 2, i, k;
	int failed = 0;

	for (i = 0; i < n && rep->nr_hold < BENCH_MAX_LIST; i++) {
		struct hold_result *h = &rep->hold[rep->nr_hold++];
		unsigned samples = o->samples;

		/* Many vCPUs on few cores: each sample waits for all to run again. */
		if (!o->samples_given && list[i] > 16)
			samples = samples / 4 ? samples / 4 : 1;
		hold_one(list[i], samples, h);
		summary_hold(stdout, h);
		failed |= h->error[0] != 0;
		for (k = 0; k < h->nr_lines; k++)
			failed |= h->lines[k].error[0] != 0;
	}
	return failed ? -EIO : 0;
}
