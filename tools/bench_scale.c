// SPDX-License-Identifier: MIT
/*
 * `kvmhold-bench scale` (tools/README.md, "scale"): what the library's
 * operations cost as the VM grows, with no vCPUs.  Part 1: one VM per slot
 * count N, every measure's p50 divided by its p50 at 1024 slots.  Part 2:
 * the commits on one logged slot of G GiB next to the same change by hand
 * on a raw VM over the same host memory.
 *
 * Sample counts shrink as N and G grow, and each measurement stops once its time
 * budget is spent (unless --samples is given): the default run stays well within
 * 3 minutes on two cores, most of it KVM building and freeing 1 TiB and 32000 slots.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define PG               4096ull
#define TABLE_GPA        (1ull << 30)   /* part 1: the table starts at 1 GiB */
#define FREE_GPA         (2ull << 30)   /* free space for the moved slot: above any table */
#define BIG_GPA          (1ull << 40)   /* part 2: the logged slot, at 1 TiB */
#define LOOKUPS          100000u
#define LOOKUP_BATCHES   6u             /* over all rounds */
#define ROUNDS           3u
#define SPREAD           2654435761u    /* Knuth's multiplier: lookups hop across the table */
#define MS               1000000ull
#define WARMUP           2u             /* untimed rounds before a pair's samples */

static const unsigned def_slots[] = { 1, 1024, 8192, 32000 };
static const unsigned def_gib[] = { 1, 16, 64, 256, 1024 };

/* ---- names -------------------------------------------------------------- */

const struct scale_measure_info scale_measures[SM__COUNT] = {
	[SM_SPLIT]        = { "split", "split the middle slot (begin + split + commit)", true },
	[SM_MERGE]        = { "merge", "merge it back", true },
	[SM_UNMAP]        = { "unmap", "unmap the middle slot", true },
	[SM_MAP]          = { "map", "map it again", true },
	[SM_MOVE]         = { "move", "move the middle slot to free space", true },
	[SM_MOVE_BACK]    = { "move-back", "move it back", true },
	[SM_LOG_ON]       = { "log-on", "set_flags LOG_DIRTY on the middle slot", true },
	[SM_LOG_OFF]      = { "log-off", "set_flags 0 on it", true },
	[SM_GROW]         = { "grow", "resize the last slot one page up", true },
	[SM_SHRINK]       = { "shrink", "resize it back", true },
	[SM_UNMAP_ALL]    = { "unmap-all", "kvmhold_txn_unmap() of every slot, the call alone (aborted)",
			      false },
	[SM_MERGE_HALF]   = { "merge-half", "kvmhold_txn_merge() of the contiguous half, the call alone "
			      "(aborted)", false },
	[SM_LOOKUP]       = { "gpa_to_hva", "kvmhold_gpa_to_hva(), ns per call", true },
	[SM_SYNC_ONE]     = { "sync-one", "kvmhold_dirty_sync() of the middle slot's host range", true },
	[SM_SYNC_ALL]     = { "sync-all", "kvmhold_dirty_sync() of every slot's host range", false },
	[SM_SYNC_GPA_ALL] = { "sync-gpa-all", "kvmhold_dirty_sync_gpa() over every slot", false },
};

/* With the memslot ioctls and dirty-log reads of each by hand (hand_cycle()). */
const struct scale_gib_op_info scale_gib_ops[SG__COUNT] = {
	[SG_SPLIT]   = { "split", 3, 1 },     /* DELETE + 2 CREATE */
	[SG_MERGE]   = { "merge", 3, 2 },     /* both halves' logs; 2 DELETE + CREATE */
	[SG_MOVE]    = { "move", 2, 1 },      /* DELETE + CREATE at the new gpa */
	[SG_LOG_OFF] = { "log-off", 1, 1 },   /* FLAGS */
};

/* ---- sampling ------------------------------------------------------------- */

/*
 * How many samples a measurement takes: at most max, at least min, and,
 * unless the user fixed the count, no new sample past min once budget has
 * passed since the first (a single 32k-slot sync may take a second).
 */
struct plan {
	unsigned min, max;
	uint64_t budget;             /* ns; 0: none */
};

static bool more(const struct plan *p, unsigned k, uint64_t start)
{
	if (k >= p->max)
		return false;
	return k < p->min || !p->budget || bench_now_ns() - start < p->budget;
}

/* Round r's share of total (the shares of all the rounds add up to total). */
static unsigned share(unsigned total, unsigned r, unsigned rounds)
{
	return total * (r + 1) / rounds - total * r / rounds;
}

/* Round r of `rounds`: its share of the samples and of the budget. */
static struct plan plan_for(const struct bench_opts *o, unsigned r, unsigned rounds,
			    unsigned min, unsigned max, uint64_t budget)
{
	struct plan p = { share(min, r, rounds), share(max, r, rounds), budget / rounds };

	if (o->samples_given) {
		p.min = p.max = share(o->samples, r, rounds);
		p.budget = 0;
	}
	return p;
}

static void note_err(char *buf, size_t size, const char *what, int r)
{
	if (!buf[0])
		snprintf(buf, size, "%s: %s", what, strerror(r < 0 ? -r : r));
}

/* Resident set of the process, KiB (/proc/self/statm), or 0. */
static uint64_t rss_kib(void)
{
	unsigned long long resident;
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%*s %llu", &resident);
	fclose(f);
	return n == 1 ? resident * (unsigned long long)sysconf(_SC_PAGESIZE) / 1024 : 0;
}

/* ---- part 1: the table ------------------------------------------------- */

struct table {
	struct kvmhold_vm *vm;
	unsigned n, mid;             /* mid: the two-page slot */
	char *mem;                   /* host memory of all the slots (or MAP_FAILED) */
	size_t len;
	uint64_t span;               /* guest-physical bytes from TABLE_GPA */
	uint64_t *bm;                /* the syncs: room for the whole host range's bits */
};

static uint64_t t_gpa(const struct table *t, unsigned i)
{
	return TABLE_GPA + (uint64_t)i * PG + (i > t->mid ? PG : 0);
}

static uint64_t t_size(const struct table *t, unsigned i)
{
	return i == t->mid ? 2 * PG : PG;
}

/*
 * Below the middle: one page after the other.  From the middle on: slots
 * start two pages apart with a free page between, so none is contiguous
 * with its neighbour in host memory (the middle slot's second page is its
 * own; the free page after the last slot is what a grow takes).
 */
static size_t t_off(const struct table *t, unsigned i)
{
	if (i < t->mid)
		return (size_t)i * PG;
	return (size_t)(t->mid + 1) * PG + (size_t)(i - t->mid) * 2 * PG + (i > t->mid ? 2 * PG : 0);
}

static char *t_hva(const struct table *t, unsigned i)
{
	return t->mem + t_off(t, i);
}

/* Measure m's operation on the table, inside transaction x (the syncs take none). */
static int table_op(struct kvmhold_txn *x, const struct table *t, enum scale_measure m)
{
	uint64_t mid = t_gpa(t, t->mid), last = t_gpa(t, t->n - 1);

	switch (m) {
	case SM_SPLIT:
		return kvmhold_txn_split(x, mid + PG);
	case SM_MERGE:
		return kvmhold_txn_merge(x, mid, 2 * PG);
	case SM_UNMAP:
		return kvmhold_txn_unmap(x, mid, 2 * PG);
	case SM_MAP:
		return kvmhold_txn_map(x, mid, 2 * PG, t_hva(t, t->mid), 0);
	case SM_MOVE:
		return kvmhold_txn_move(x, mid, 2 * PG, FREE_GPA);
	case SM_MOVE_BACK:
		return kvmhold_txn_move(x, FREE_GPA, 2 * PG, mid);
	case SM_LOG_ON:
		return kvmhold_txn_set_flags(x, mid, 2 * PG, KVMHOLD_MEM_LOG_DIRTY);
	case SM_LOG_OFF:
		return kvmhold_txn_set_flags(x, mid, 2 * PG, 0);
	case SM_GROW:
		return kvmhold_txn_resize(x, last, t_size(t, t->n - 1) + PG);
	case SM_SHRINK:
		return kvmhold_txn_resize(x, last, t_size(t, t->n - 1));
	case SM_UNMAP_ALL:
		return kvmhold_txn_unmap(x, TABLE_GPA, t->span);
	case SM_MERGE_HALF:
		return kvmhold_txn_merge(x, TABLE_GPA, (uint64_t)t->mid * PG);
	case SM_SYNC_ONE:
		return kvmhold_dirty_sync(t->vm, t_hva(t, t->mid), 2 * PG, t->bm);
	case SM_SYNC_ALL:
		return kvmhold_dirty_sync(t->vm, t->mem, t->len, t->bm);
	case SM_SYNC_GPA_ALL:
		return kvmhold_dirty_sync_gpa(t->vm, TABLE_GPA, t->span, t->bm);
	default:
		return -EINVAL;
	}
}

static uint32_t nr_slots(struct kvmhold_vm *vm)
{
	struct kvmhold_stats st = { 0 };

	kvmhold_stats_get(vm, &st, sizeof(st));
	return st.nr_slots;
}

/* Are every slot's first page, and the middle slot's second, where they were mapped? */
static bool lookups_ok(const struct table *t)
{
	unsigned i;

	for (i = 0; i < t->n; i++)
		if (kvmhold_gpa_to_hva(t->vm, t_gpa(t, i)) != t_hva(t, i))
			return false;
	return kvmhold_gpa_to_hva(t->vm, t_gpa(t, t->mid) + PG) == t_hva(t, t->mid) + PG;
}

/* Keeps the lookups from being optimized away. */
static volatile uintptr_t lookup_sink;

static int lookups_measure(const struct table *t, unsigned batches, struct samples *s)
{
	uint64_t *gpas = malloc(LOOKUPS * sizeof(*gpas));
	unsigned b, k;
	int r = 0;

	if (!gpas)
		return -ENOMEM;
	/* Computed beforehand, so the timed loop is the lookups and little else. */
	for (k = 0; k < LOOKUPS; k++)
		gpas[k] = t_gpa(t, (unsigned)(((uint64_t)k * SPREAD) % t->n));
	for (b = 0; b < batches && !r; b++) {
		uintptr_t acc = 0;
		uint64_t t0 = bench_now_ns();

		for (k = 0; k < LOOKUPS; k++)
			acc ^= (uintptr_t)kvmhold_gpa_to_hva(t->vm, gpas[k]);
		r = samples_add(s, (bench_now_ns() - t0 + LOOKUPS / 2) / LOOKUPS);
		lookup_sink ^= acc;
	}
	free(gpas);
	return r;
}

/*
 * One slot count's VM and what was measured on it so far.  All the counts'
 * VMs live at once and the measures run in rounds visiting every count in
 * turn (starting one further each round), so a change in the machine's load
 * (others may use it) falls on every N alike, not on one column of ratios.
 */
struct slots_run {
	struct table t;
	struct scale_slots_result *res;
	struct samples s[SM__COUNT];
	unsigned max;                /* samples per measure, all rounds together */
	bool broken;                 /* setup failed or the layout is unknown: measure no more */
};

/* The first error of this count, after which nothing more is measured on it. */
static void slots_fail(struct slots_run *sr, const char *what, int r)
{
	note_err(sr->res->error, sizeof(sr->res->error), what, r);
	sr->broken = true;
}

/*
 * One sample of measure m (any but the lookups), kept unless a warm-up;
 * nonzero on an error, which is noted.  The commits are timed from begin
 * to the commit's return, unmap-all and merge-half the call alone.
 */
static int sample(struct slots_run *sr, enum scale_measure m, bool keep)
{
	const struct table *t = &sr->t;
	bool alone = m == SM_UNMAP_ALL || m == SM_MERGE_HALF;   /* the txn is thrown away */
	struct kvmhold_txn *x = NULL;
	uint64_t t0 = bench_now_ns(), ns = 0;
	int r = 0;

	if (m < SM_SYNC_ONE)
		r = kvmhold_txn_begin(t->vm, &x);
	if (!r) {
		if (alone)
			t0 = bench_now_ns();
		r = table_op(x, t, m);
		if (x && !alone)
			r = kh_finish(x, r);
		ns = bench_now_ns() - t0;
		if (alone)
			kvmhold_txn_abort(x);
	}
	if (!r && keep)
		r = samples_add(&sr->s[m], ns);
	if (r)
		note_err(sr->res->error, sizeof(sr->res->error), scale_measures[m].name, r);
	return r;
}

/*
 * Samples of the nr measures ms[], one of each per turn, as plan p says,
 * after `warmup` untimed turns.  The index in ms[] of one that failed, or nr.
 */
static unsigned sample_turns(struct slots_run *sr, const enum scale_measure *ms, unsigned nr,
			     unsigned warmup, const struct plan *p)
{
	uint64_t start = bench_now_ns();     /* again when the warm-up ends */
	unsigned k, j;

	for (k = 0; k < warmup || more(p, k - warmup, start); k++) {
		if (k == warmup)
			start = bench_now_ns();
		for (j = 0; j < nr; j++)
			if (sample(sr, ms[j], k >= warmup))
				return j;
	}
	return nr;
}

/* Round r's samples of measure m alone. */
static void measure(struct slots_run *sr, unsigned r, enum scale_measure m, const struct plan *p)
{
	bench_progress("scale: round %u, %u slots, %s", r + 1, sr->t.n, scale_measures[m].name);
	sample_turns(sr, &m, 1, 0, p);
}

/* Each operation and the one that undoes it. */
static const enum scale_measure pairs[][2] = {
	{ SM_SPLIT, SM_MERGE }, { SM_UNMAP, SM_MAP }, { SM_MOVE, SM_MOVE_BACK },
	{ SM_LOG_ON, SM_LOG_OFF }, { SM_GROW, SM_SHRINK },
};

/* Count n's table, mapped in one transaction (timed) and checked, and its bitmap. */
static void slots_setup(struct slots_run *sr, unsigned n, struct scale_slots_result *res)
{
	struct table *t = &sr->t;
	struct kvmhold_txn *x;
	uint32_t before;
	uint64_t t0;
	unsigned i;
	int r;

	sr->res = res;
	res->slots = n;
	/* Fewer samples as N grows: each commit may cost more, and so may the O(N) measures. */
	sr->max = n <= 1024 ? 200 : n <= 8192 ? 100 : 40;
	bench_progress("scale: mapping %u slots", n);
	t->n = n;
	t->mid = n / 2;
	t->span = (uint64_t)n * PG + PG;
	/* Up to the last slot's page, the page a grow adds, and one spare. */
	t->len = t_off(t, n - 1) + 4 * PG;
	t->mem = mmap(NULL, t->len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	r = t->mem == MAP_FAILED ? -errno : kvmhold_vm_create(NULL, &t->vm);
	if (r)
		goto fail;
	before = nr_slots(t->vm);
	t0 = bench_now_ns();
	r = kvmhold_txn_begin(t->vm, &x);
	if (r)
		goto fail;
	for (i = 0; i < n && !r; i++)
		r = kvmhold_txn_map(x, t_gpa(t, i), t_size(t, i), t_hva(t, i), 0);
	r = kh_finish(x, r);
	res->map_ns = bench_now_ns() - t0;
	if (r)
		goto fail;
	t->bm = calloc((t->len / PG + 63) / 64, sizeof(*t->bm));
	/* A count other than n: the library made other slots than asked. */
	if (nr_slots(t->vm) != before + n)
		slots_fail(sr, "mapping: slot count after the commit", EPROTO);
	else if (!lookups_ok(t))
		slots_fail(sr, "kvmhold_gpa_to_hva() gave a wrong address", EPROTO);
	else if (!t->bm)
		slots_fail(sr, "bitmap", ENOMEM);
	return;
fail:
	slots_fail(sr, "mapping the slots", r);
}

/* Round r of the commits, the aborted calls and the lookups. */
static void slots_round_ops(const struct bench_opts *o, struct slots_run *sr, unsigned r)
{
	struct plan pair = plan_for(o, r, ROUNDS, 3, sr->max, 1500 * MS);
	struct plan call = plan_for(o, r, ROUNDS, 3, sr->max, 1000 * MS);
	unsigned i, n = sr->t.n;
	int e;

	/*
	 * Each pair first a few times untimed: the first commits after a change of
	 * measure run colder.  An error in a pair's first half leaves the layout as
	 * it was; one in the second does not, and the next pair expects it.
	 */
	for (i = 0; !sr->broken && i < ARRAY_SIZE(pairs); i++) {
		bench_progress("scale: round %u, %u slots, %s/%s", r + 1, n,
			       scale_measures[pairs[i][0]].name, scale_measures[pairs[i][1]].name);
		sr->broken = sample_turns(sr, pairs[i], 2, WARMUP, &pair) == 1;
	}
	if (!sr->broken && nr_slots(sr->t.vm) != n)
		slots_fail(sr, "the layout did not come back", EPROTO);
	if (sr->broken)
		return;
	measure(sr, r, SM_UNMAP_ALL, &call);
	/* Half of one slot is nothing to merge; half of two is one slot. */
	if (sr->t.mid >= 2)
		measure(sr, r, SM_MERGE_HALF, &call);
	bench_progress("scale: round %u, %u slots, gpa_to_hva", r + 1, n);
	e = lookups_measure(&sr->t, LOOKUP_BATCHES / ROUNDS, &sr->s[SM_LOOKUP]);
	if (e)
		note_err(sr->res->error, sizeof(sr->res->error), "gpa_to_hva", e);
}

/* Logging on for every slot, one transaction: the syncs need it. */
static void slots_log_all(struct slots_run *sr)
{
	struct kvmhold_txn *x;
	uint64_t t0;
	int r;

	if (sr->broken)
		return;
	bench_progress("scale: %u slots, logging on for all", sr->t.n);
	t0 = bench_now_ns();
	r = kvmhold_txn_begin(sr->t.vm, &x);
	if (!r)
		r = kh_finish(x, kvmhold_txn_set_flags(x, TABLE_GPA, sr->t.span, KVMHOLD_MEM_LOG_DIRTY));
	if (r)
		slots_fail(sr, "logging on for all slots", r);
	else
		sr->res->log_all_ns = bench_now_ns() - t0;
}

static void slots_round_syncs(const struct bench_opts *o, struct slots_run *sr, unsigned r)
{
	struct plan one = plan_for(o, r, ROUNDS, 3, sr->max, 1000 * MS);
	struct plan all = plan_for(o, r, ROUNDS, 3, 20, 1500 * MS);

	if (sr->broken)
		return;
	measure(sr, r, SM_SYNC_ONE, &one);
	measure(sr, r, SM_SYNC_ALL, &all);
	measure(sr, r, SM_SYNC_GPA_ALL, &all);
}

/* Part 1 for every count; the ratios to 1024 slots, else to the first count.  Any failed? */
static bool slots_all(const struct bench_opts *o, struct scale_result *s)
{
	struct slots_run sr[BENCH_MAX_LIST] = { 0 };
	const struct scale_slots_result *ref = &s->slots[0];
	unsigned i, j, r, m;
	bool failed = false;

	for (i = 0; i < s->nr_slots; i++)
		slots_setup(&sr[i], o->nr_scale_slots ? o->scale_slots[i] : def_slots[i],
			    &s->slots[i]);
	for (r = 0; r < ROUNDS; r++)
		for (j = 0; j < s->nr_slots; j++)
			slots_round_ops(o, &sr[(j + r) % s->nr_slots], r);
	for (i = 0; i < s->nr_slots; i++)
		slots_log_all(&sr[i]);
	for (r = 0; r < ROUNDS; r++)
		for (j = 0; j < s->nr_slots; j++)
			slots_round_syncs(o, &sr[(j + r) % s->nr_slots], r);
	for (i = 0; i < s->nr_slots; i++) {
		struct table *t = &sr[i].t;

		bench_progress("scale: %u slots, tearing down", s->slots[i].slots);
		kvmhold_vm_destroy(t->vm);
		if (t->mem != MAP_FAILED)
			munmap(t->mem, t->len);
		free(t->bm);
		for (m = 0; m < SM__COUNT; m++)
			stats_take(&s->slots[i].m[m], &sr[i].s[m]);
		failed |= s->slots[i].error[0] != '\0';
	}

	for (i = 1; i < s->nr_slots && ref->slots != 1024; i++)
		if (s->slots[i].slots == 1024)
			ref = &s->slots[i];
	s->ref_slots = ref->slots;
	for (i = 0; i < s->nr_slots; i++)
		for (m = 0; m < SM__COUNT; m++)
			s->slots[i].ratio[m] = bench_ratio(s->slots[i].m[m].p50, ref->m[m].p50);
	return failed;
}

/* ---- part 2: one big logged slot ---------------------------------------------- */

struct big {
	uint64_t size;
	char *mem;                   /* MAP_FAILED until mapped */
	uint64_t *bm;                /* by hand: room for the whole slot's bitmap (or MAP_FAILED) */
	size_t bm_len;
	struct kvmhold_vm *vm;       /* the library's */
	int kvm, fd;                 /* by hand: /dev/kvm and a raw VM of our own */
};

/* Where the slot is in cycle k: it moves back and forth between two places. */
static uint64_t big_at(const struct big *b, unsigned k)
{
	return BIG_GPA + (k % 2 ? b->size : 0);
}

/* Adds op of the cycle that moves the slot from at to to. */
static int lib_add(struct kvmhold_txn *x, enum scale_gib_op op, uint64_t at, uint64_t to,
		   uint64_t S)
{
	switch (op) {
	case SG_SPLIT:
		return kvmhold_txn_split(x, at + S / 2);
	case SG_MERGE:
		return kvmhold_txn_merge(x, at, S);
	case SG_MOVE:
		return kvmhold_txn_move(x, at, S, to);
	default:
		return kvmhold_txn_set_flags(x, to, S, 0);
	}
}

/* The four changes through the library, each commit alone timed; its stats: held? ioctls? */
static int lib_cycle(const struct big *b, unsigned k, struct samples *s,
		     struct scale_gib_result *res, const char **what)
{
	uint64_t at = big_at(b, k), to = big_at(b, k + 1), S = b->size, held, t0;
	struct kvmhold_stats st = { 0 };
	struct kvmhold_txn *x;
	unsigned op;
	int r;

	/* Logging went off at the end of the last cycle; on again, untimed. */
	if (k) {
		*what = "logging on again";
		r = kvmhold_txn_begin(b->vm, &x);
		if (!r)
			r = kh_finish(x, kvmhold_txn_set_flags(x, at, S, KVMHOLD_MEM_LOG_DIRTY));
		if (r)
			return r;
	}
	for (op = 0; op < SG__COUNT; op++) {
		*what = scale_gib_ops[op].name;
		r = kvmhold_txn_begin(b->vm, &x);
		if (!r && (r = lib_add(x, (enum scale_gib_op)op, at, to, S)))
			kvmhold_txn_abort(x);
		if (r)
			return r;
		kvmhold_stats_get(b->vm, &st, sizeof(st));
		held = st.txn_held_commits;
		t0 = bench_now_ns();
		r = kvmhold_txn_commit(x);
		if (!r)
			r = samples_add(&s[op], bench_now_ns() - t0);
		if (r)
			return r;
		kvmhold_stats_get(b->vm, &st, sizeof(st));
		res->commits++;
		res->held += st.txn_held_commits - held;
		res->ioctls[op] += st.last_txn_ioctls;
	}
	return 0;
}

/* The memslot ioctl, unless an earlier step failed (r): then r. */
static int raw_region(int r, int vm_fd, uint32_t id, uint64_t gpa, uint64_t size, void *hva,
		      uint32_t flags)
{
	return r ? r : tvm_raw_memslot(vm_fd, id, gpa, size, hva, flags);
}

/* The dirty-log read, unless an earlier step failed (r): then r. */
static int raw_log(int r, int vm_fd, uint32_t id, uint64_t *bm)
{
	struct kvm_dirty_log l = { .slot = id, .dirty_bitmap = bm };

	if (r)
		return r;
	return ioctl(vm_fd, KVM_GET_DIRTY_LOG, &l) < 0 ? -errno : 0;
}

/*
 * The same four changes by hand, as a VMM without the library issues them:
 * the dirty log of what goes away first (into the VMM's own bitmap), then
 * the memslot ioctls.  Slot ids 0 (and 1 for the upper half).
 */
static int hand_cycle(const struct big *b, unsigned k, struct samples *s, const char **what)
{
	uint64_t at = big_at(b, k), to = big_at(b, k + 1), S = b->size, t0;
	uint64_t *upper = b->bm + S / 2 / PG / 64;   /* the upper half's bits */
	const uint32_t LOG = KVM_MEM_LOG_DIRTY_PAGES;
	char *mem = b->mem;
	int fd = b->fd, r = 0;
	unsigned op;

	if (k) {
		*what = "logging on again";
		r = raw_region(0, fd, 0, at, S, mem, LOG);
	}
	for (op = 0; op < SG__COUNT && !r; op++) {
		*what = scale_gib_ops[op].name;
		t0 = bench_now_ns();
		r = raw_log(0, fd, 0, b->bm);
		switch (op) {
		case SG_SPLIT:      /* DELETE, CREATE the lower half, CREATE the upper half */
			r = raw_region(r, fd, 0, at, 0, mem, LOG);
			r = raw_region(r, fd, 0, at, S / 2, mem, LOG);
			r = raw_region(r, fd, 1, at + S / 2, S / 2, mem + S / 2, LOG);
			break;
		case SG_MERGE:      /* both halves' logs, DELETE both, CREATE the whole */
			r = raw_log(r, fd, 1, upper);
			r = raw_region(r, fd, 0, at, 0, mem, LOG);
			r = raw_region(r, fd, 1, at + S / 2, 0, mem + S / 2, LOG);
			r = raw_region(r, fd, 0, at, S, mem, LOG);
			break;
		case SG_MOVE:       /* DELETE, CREATE at the other place */
			r = raw_region(r, fd, 0, at, 0, mem, LOG);
			r = raw_region(r, fd, 0, to, S, mem, LOG);
			break;
		default:            /* logging off: FLAGS in place */
			r = raw_region(r, fd, 0, to, S, mem, 0);
			break;
		}
		if (!r)
			r = samples_add(&s[op], bench_now_ns() - t0);
	}
	return r;
}

/*
 * The host memory; the library's VM with the slot mapped, logging; a raw VM of
 * ours with the same slot, logging (classic dirty log).  *what: the failed step.
 */
static int big_open(struct big *b, const char **what)
{
	struct kvmhold_txn *x;
	int r;

	*what = "host memory, mmap";
	b->bm_len = (size_t)(b->size / PG / 8);
	b->mem = mmap(NULL, b->size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	b->bm = mmap(NULL, b->bm_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->mem == MAP_FAILED || b->bm == MAP_FAILED)
		return -errno;
	*what = "kvmhold, kvmhold_vm_create";
	r = kvmhold_vm_create(NULL, &b->vm);
	if (r)
		return r;
	*what = "kvmhold, mapping the slot";
	r = kvmhold_txn_begin(b->vm, &x);
	if (!r)
		r = kh_finish(x, kvmhold_txn_map(x, BIG_GPA, b->size, b->mem, KVMHOLD_MEM_LOG_DIRTY));
	if (r)
		return r;
	*what = "by hand, /dev/kvm";
	b->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (b->kvm < 0)
		return -errno;
	*what = "by hand, KVM_CREATE_VM";
	b->fd = ioctl(b->kvm, KVM_CREATE_VM, 0);
	if (b->fd < 0)
		return -errno;
	*what = "by hand, creating the slot";
	return raw_region(0, b->fd, 0, BIG_GPA, b->size, b->mem, KVM_MEM_LOG_DIRTY_PAGES);
}

static void big_close(struct big *b)
{
	kvmhold_vm_destroy(b->vm);
	if (b->fd >= 0)
		close(b->fd);
	if (b->kvm >= 0)
		close(b->kvm);
	if (b->bm != MAP_FAILED)
		munmap(b->bm, b->bm_len);
	if (b->mem != MAP_FAILED)
		munmap(b->mem, b->size);
}

/*
 * Both VMs live side by side over the same host memory, their cycles alternating
 * (the library first in even cycles, by hand in odd ones): on a shared machine, a
 * change of load (or KVM still freeing the last VM) falls on both sides alike.
 */
static void gib_run(const struct bench_opts *o, unsigned gib, struct scale_gib_result *res)
{
	/* One round.  Small slots: several cycles; from a few hundred GiB on, the minimum. */
	struct plan p = plan_for(o, 0, 1, gib >= 1024 ? 2 : 3, 5, 3000 * MS);
	struct samples lib[SG__COUNT] = { { 0 } }, hand[SG__COUNT] = { { 0 } };
	struct big b = {
		.size = (uint64_t)gib << 30, .mem = MAP_FAILED, .bm = MAP_FAILED,
		.kvm = -1, .fd = -1,
	};
	struct kvmhold_stats st = { 0 };
	const char *what = "";
	uint64_t start;
	unsigned k, i;
	int r;

	res->gib = gib;
	bench_progress("scale: %u GiB logged, mapping", gib);
	r = big_open(&b, &what);
	if (r) {
		note_err(res->error, sizeof(res->error), what, r);
		goto out;
	}
	start = bench_now_ns();
	for (k = 0; !r && more(&p, k, start); k++) {
		for (i = 0; !r && i < 2; i++) {
			bool lib_now = (i == 0) == (k % 2 == 0);
			const char *side = lib_now ? "kvmhold" : "by hand";

			bench_progress("scale: %u GiB logged, cycle %u, %s", gib, k + 1, side);
			r = lib_now ? lib_cycle(&b, k, lib, res, &what) :
				      hand_cycle(&b, k, hand, &what);
			if (r)
				snprintf(res->error, sizeof(res->error), "%s, %s: %s", side, what,
					 strerror(-r));
		}
		if (!r)
			res->cycles++;
	}
	/* What the library keeps: its VM still alive, our own bitmap's pages given back. */
	madvise(b.bm, b.bm_len, MADV_DONTNEED);
	if (!kvmhold_stats_get(b.vm, &st, sizeof(st)))
		res->dirty_held = st.dirty_held;
	res->rss_kib = rss_kib();
out:
	bench_progress("scale: %u GiB logged, tearing down", gib);
	big_close(&b);
	for (i = 0; i < SG__COUNT; i++) {
		stats_take(&res->lib[i], &lib[i]);
		stats_take(&res->hand[i], &hand[i]);
		res->ratio[i] = bench_ratio(res->lib[i].p50, res->hand[i].p50);
		if (res->lib[i].n)
			res->ioctls[i] /= (double)res->lib[i].n;
	}
}

/* ---- the targets ------------------------------------------------------------- */

bool scale_slots_target_applies(const struct scale_result *s, unsigned i)
{
	return s->ref_slots && s->slots[i].slots > s->ref_slots;
}

bool scale_slots_target_met(const struct scale_result *s, unsigned i, enum scale_measure *worst)
{
	const struct scale_slots_result *r = &s->slots[i];
	double max = 0;
	unsigned m;

	*worst = SM__COUNT;
	for (m = 0; m < SM__COUNT; m++) {
		if (!scale_measures[m].one_slot || r->ratio[m] <= max)
			continue;
		max = r->ratio[m];
		*worst = (enum scale_measure)m;
	}
	return max > 0 && max <= SCALE_TARGET_SLOTS;
}

bool scale_gib_target_applies(const struct scale_gib_result *g)
{
	return g->gib >= 1024;
}

bool scale_gib_target_met(const struct scale_gib_result *g, enum scale_gib_op *worst)
{
	double max = 0;
	unsigned k;

	*worst = SG__COUNT;
	for (k = 0; k < SG__COUNT; k++) {
		if (g->ratio[k] <= max)
			continue;
		max = g->ratio[k];
		*worst = (enum scale_gib_op)k;
	}
	return max > 0 && max <= SCALE_TARGET_GIB;
}

/* ---- the section --------------------------------------------------------------- */

int run_scale(const struct bench_opts *o, struct report *rep)
{
	struct scale_result *s = calloc(1, sizeof(*s));
	uint64_t t0 = bench_now_ns();
	bool failed;
	unsigned i;

	if (!s) {
		bench_err("scale: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	s->samples = o->samples_given ? o->samples : 200;
	s->budgeted = !o->samples_given;
	s->nr_slots = o->nr_scale_slots ? o->nr_scale_slots : (unsigned)ARRAY_SIZE(def_slots);
	s->rounds = ROUNDS;
	s->lookups = LOOKUPS;
	failed = slots_all(o, s);
	bench_progress_done();
	summary_scale_slots(stdout, s);

	s->rss_base_kib = rss_kib();
	s->nr_gib = o->nr_scale_gib ? o->nr_scale_gib : (unsigned)ARRAY_SIZE(def_gib);
	for (i = 0; i < s->nr_gib; i++) {
		gib_run(o, o->nr_scale_gib ? o->scale_gib[i] : def_gib[i], &s->gib[i]);
		failed |= s->gib[i].error[0] != '\0';
	}
	s->seconds = (double)(bench_now_ns() - t0) / 1e9;
	bench_progress_done();
	summary_scale_gib(stdout, s);
	rep->scale = s;
	return failed ? -EIO : 0;
}
