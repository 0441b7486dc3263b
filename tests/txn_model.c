// SPDX-License-Identifier: MIT
/*
 * Differential test: 100000 random transaction operations, valid and
 * invalid, applied both to the library and to a deliberately simple
 * reference model (one record per 4 KiB page of a 96-page window).  After
 * every operation the errno and the transaction's view must match the
 * model; after every commit the committed table must; and every tenth
 * commit a guest reads every page of the window, so KVM's own view (what
 * is mapped where, to which host memory) must match too.
 *
 * Can fail: KVMHOLD_TEST_BREAK=range-check accepts misaligned and
 * wrapping ranges the model refuses.
 */
#include <sys/mman.h>

#include "check.h"
#include "tvm.h"

#define PAGE    4096ull
#define NP      96             /* pages in the window */
#define HVA_NP  128            /* host pages a map starts from */
#define HOST_NP (HVA_NP + NP)  /* host pages a slot can reach by growing */
#define OPS     100000
#define MARK(j) (0x6b686f6c00000000ull + (j))   /* first quadword of host page j */

/* Invariant: the first page of every slot has start set. */
struct mpage {
	bool mapped, start;        /* start: first page of a slot */
	uint32_t hva, flags;       /* host page index */
};

static struct mpage model[NP], committed[NP];
static uint64_t base;          /* gpa of page 0 */
static char *host;             /* host page 0 */
static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(uint64_t below)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % below;
}

/* ---- the reference model: page by page, no cleverness ------------------ */

static bool pages_free(uint64_t g, uint64_t n)
{
	for (uint64_t i = g; i < g + n; i++)
		if (i < NP && model[i].mapped)
			return false;
	return true;
}

static bool pages_mapped(uint64_t g, uint64_t n)
{
	for (uint64_t i = g; i < g + n; i++)
		if (i >= NP || !model[i].mapped)
			return false;
	return true;
}

static bool is_start(uint64_t i)
{
	return i < NP && model[i].mapped && model[i].start;
}

/* First page after the slot containing page i. */
static uint64_t slot_end_page(uint64_t i)
{
	for (i++; i < NP && model[i].mapped && !model[i].start; i++)
		;
	return i;
}

static void cut(uint64_t i)
{
	if (i < NP && model[i].mapped)
		model[i].start = true;
}

static int check_bytes(uint64_t gpa, uint64_t size)
{
	if (!size || (gpa | size) & (PAGE - 1))
		return -EINVAL;
	return gpa + size < gpa ? -EOVERFLOW : 0;
}

static int check_flags(uint32_t flags)
{
	return flags & ~(KVMHOLD_MEM_LOG_DIRTY | KVMHOLD_MEM_READONLY) ? -EINVAL : 0;
}

static int m_map(uint64_t gpa, uint64_t size, uint64_t hva_off, uint32_t flags)
{
	uint64_t g = (gpa - base) / PAGE, n = size / PAGE;
	int r = check_bytes(gpa, size);

	if (!r && (hva_off & (PAGE - 1)))
		r = -EINVAL;
	if (!r)
		r = check_flags(flags);
	if (r)
		return r;
	if (!pages_free(g, n))
		return -EEXIST;
	for (uint64_t i = 0; i < n; i++)
		model[g + i] = (struct mpage){ true, i == 0, (uint32_t)(hva_off / PAGE + i), flags };
	cut(g + n);
	return 0;
}

static int m_unmap(uint64_t gpa, uint64_t size)
{
	uint64_t g = (gpa - base) / PAGE, n = size / PAGE;
	int r = check_bytes(gpa, size);

	if (r)
		return r;
	if (!pages_mapped(g, n))
		return -ENOENT;
	cut(g + n);
	for (uint64_t i = g; i < g + n; i++)
		model[i] = (struct mpage){ 0 };
	return 0;
}

static int m_resize(uint64_t gpa, uint64_t new_size)
{
	uint64_t g = (gpa - base) / PAGE, n = new_size / PAGE, end;
	int r = check_bytes(gpa, new_size);

	if (r)
		return r;
	if (!is_start(g))
		return -ENOENT;
	end = slot_end_page(g);
	if (g + n > end) {
		if (!pages_free(end, g + n - end))
			return -EEXIST;
		for (uint64_t i = end; i < g + n; i++)
			model[i] = (struct mpage){ true, false, model[g].hva + (uint32_t)(i - g),
						   model[g].flags };
	} else {
		for (uint64_t i = g + n; i < end; i++)
			model[i] = (struct mpage){ 0 };
	}
	cut(g + n);
	return 0;
}

static int m_split(uint64_t gpa)
{
	uint64_t g = (gpa - base) / PAGE;

	if (gpa & (PAGE - 1))
		return -EINVAL;
	if (g >= NP || !model[g].mapped)
		return -ENOENT;
	if (is_start(g))
		return -EINVAL;
	model[g].start = true;
	return 0;
}

static int m_merge(uint64_t gpa, uint64_t size)
{
	uint64_t g = (gpa - base) / PAGE, n = size / PAGE, pos, prev = NP;
	int r = check_bytes(gpa, size);

	if (r)
		return r;
	if (g >= NP || !model[g].mapped)
		return -ENOENT;
	if (!is_start(g))
		return -EINVAL;
	for (pos = g; pos < g + n; prev = pos, pos = slot_end_page(pos)) {
		if (pos >= NP || !model[pos].mapped)
			return -ENOENT;
		if (slot_end_page(pos) > g + n)
			return -EINVAL;
		if (prev < NP && (model[pos].hva != model[pos - 1].hva + 1 ||
				  model[pos].flags != model[prev].flags))
			return -EINVAL;
	}
	for (pos = g + 1; pos < g + n; pos++)
		model[pos].start = false;
	return 0;
}

static int m_move(uint64_t gpa, uint64_t size, uint64_t new_gpa)
{
	uint64_t g = (gpa - base) / PAGE, n = size / PAGE, ng = (new_gpa - base) / PAGE;
	struct mpage moved[NP];
	int r = check_bytes(gpa, size);

	if (!r)
		r = check_bytes(new_gpa, size);
	if (r)
		return r;
	if (!pages_mapped(g, n))
		return -ENOENT;
	if (ng == g)
		return 0;
	/* Target pages must be free or part of the source. */
	for (uint64_t i = ng; i < ng + n; i++)
		if (i < NP && model[i].mapped && (i < g || i >= g + n))
			return -EEXIST;
	cut(g);
	cut(g + n);
	for (uint64_t i = 0; i < n; i++) {
		moved[i] = model[g + i];
		model[g + i] = (struct mpage){ 0 };
	}
	moved[0].start = true;
	for (uint64_t i = 0; i < n; i++)
		model[ng + i] = moved[i];
	cut(ng + n);
	return 0;
}

static int m_set_flags(uint64_t gpa, uint64_t size, uint32_t flags)
{
	uint64_t g = (gpa - base) / PAGE, n = size / PAGE;
	int r = check_bytes(gpa, size);

	if (!r)
		r = check_flags(flags);
	if (r)
		return r;
	if (!pages_mapped(g, n))
		return -ENOENT;
	for (uint64_t i = g; i < g + n; i++)
		if (model[i].flags != flags)
			goto change;
	return 0;               /* nothing to change: no cuts either */
change:
	/*
	 * From the start of the first slot that changes (not before the
	 * range) to the end of the last one (not past it): slots at the ends
	 * that keep their flags are not cut.
	 */
	{
		uint64_t lo = g, hi = g + n, last;

		while (model[lo].flags == flags)
			lo++;
		while (lo > g && !model[lo].start)
			lo--;
		while (model[hi - 1].flags == flags)
			hi--;
		last = slot_end_page(hi - 1);
		hi = last < g + n ? last : g + n;
		cut(lo);
		cut(hi);
		for (uint64_t i = lo; i < hi; i++)
			model[i].flags = flags;
	}
	return 0;
}

/* ---- comparing the model with the library and with KVM ----------------- */

static void compare_regions(const struct kvmhold_region *r, int n, const char *what, unsigned op)
{
	int k = 0;

	for (uint64_t i = 0; i < NP; i = model[i].mapped ? slot_end_page(i) : i + 1) {
		if (!model[i].mapped)
			continue;
		CHECK(k < n, "op %u: %s lacks the slot at page %lu", op, what, (unsigned long)i);
		CHECK(r[k].gpa == base + i * PAGE && r[k].size == (slot_end_page(i) - i) * PAGE &&
		      (char *)r[k].hva == host + model[i].hva * PAGE && r[k].flags == model[i].flags,
		      "op %u: %s slot %d (gpa page %lu, %lu pages, flags %u) != model (page %lu, "
		      "%lu pages, host page %u, flags %u)", op, what, k,
		      (unsigned long)((r[k].gpa - base) / PAGE), (unsigned long)(r[k].size / PAGE),
		      r[k].flags, (unsigned long)i, (unsigned long)(slot_end_page(i) - i),
		      model[i].hva, model[i].flags);
		k++;
	}
	CHECK(k == n, "op %u: %s has %d slots, the model %d", op, what, n, k);
}

static void compare_txn(struct kvmhold_txn *txn, unsigned op)
{
	struct kvmhold_region r[NP];
	int n = kvmhold_txn_regions(txn, base, NP * PAGE, r, NP);

	CHECK(n >= 0 && n <= NP, "txn_regions: %d", n);
	compare_regions(r, n, "the transaction", op);
}

static void compare_committed(struct kvmhold_vm *vm, unsigned op)
{
	struct kvmhold_region r[NP];
	int n = kvmhold_regions(vm, base, NP * PAGE, r, NP);

	CHECK(n >= 0 && n <= NP, "regions: %d", n);
	compare_regions(r, n, "the table", op);
	for (unsigned i = 0; i < NP; i++) {
		void *want = model[i].mapped ? host + model[i].hva * PAGE + 8 : NULL;

		CHECK(kvmhold_gpa_to_hva(vm, base + i * PAGE + 8) == want,
		      "op %u: gpa_to_hva of page %u", op, i);
	}
}

static void compare_kvm(struct tvm *t, unsigned op)
{
	uint64_t seen[NP];

	CHECK_OK(tvm_probe(t, seen, NP, 20000));
	for (unsigned i = 0; i < NP; i++) {
		uint64_t want = model[i].mapped ? MARK(model[i].hva) : 0;

		CHECK(seen[i] == want, "op %u: the guest reads %#lx at page %u, the model says %#lx",
		      op, (unsigned long)seen[i], i, (unsigned long)want);
	}
}

/* ---- the random operations --------------------------------------------- */

static uint64_t rand_size(uint64_t max_pages)
{
	uint64_t pages = rnd(max_pages + 1);   /* 0 now and then: invalid */

	return pages * PAGE + (rnd(50) == 0 ? 1 : 0);
}

/* Mostly a mapped page (most operations need one), now and then unaligned. */
static uint64_t rand_gpa(void)
{
	uint64_t i = rnd(NP), k;

	if (rnd(4) != 0)
		for (k = 0; k < NP; k++)
			if (model[(i + k) % NP].mapped) {
				i = (i + k) % NP;
				break;
			}
	return base + i * PAGE + (rnd(50) == 0 ? 512 : 0);
}

/* Mostly the start of a slot and the size of it and the next one. */
static uint64_t merge_target(uint64_t *size)
{
	uint64_t gpa = rand_gpa(), g = (gpa - base) / PAGE, end;

	*size = rand_size(24);
	if (rnd(3) == 0 || (gpa & (PAGE - 1)) || !model[g].mapped)
		return gpa;
	while (!model[g].start)
		g--;
	end = slot_end_page(g);
	if (end < NP && model[end].mapped)
		end = slot_end_page(end);
	*size = (end - g) * PAGE;
	return base + g * PAGE;
}


static uint32_t rand_flags(void)
{
	static const uint32_t f[] = { 0, 0, KVMHOLD_MEM_LOG_DIRTY, KVMHOLD_MEM_READONLY, 0x80 };

	return f[rnd(sizeof(f) / sizeof(f[0]))];
}

/* One random operation on both sides; their answers must agree. */
static void one_op(struct kvmhold_txn *txn, unsigned op, unsigned *valid)
{
	uint64_t gpa = rand_gpa(), size, other;
	uint32_t flags;
	int want = 0, got = 0;

	switch (rnd(7)) {
	case 0:
		for (other = 0; other < NP && rnd(4) != 0; other++)   /* mostly a free page */
			if (!model[(gpa - base) / PAGE].mapped)
				break;
			else
				gpa = base + rnd(NP) * PAGE;
		size = rand_size(6);
		other = rnd(HVA_NP - 12) * PAGE + (rnd(50) == 0 ? 8 : 0);
		flags = rand_flags();
		if (size / PAGE + (gpa - base) / PAGE > NP)
			return;
		want = m_map(gpa, size, other, flags);
		got = kvmhold_txn_map(txn, gpa, size, host + other, flags);
		break;
	case 1:
		size = rand_size(3);
		want = m_unmap(gpa, size);
		got = kvmhold_txn_unmap(txn, gpa, size);
		break;
	case 2:
		size = rand_size(16);
		if (size / PAGE + (gpa - base) / PAGE > NP)
			return;
		want = m_resize(gpa, size);
		got = kvmhold_txn_resize(txn, gpa, size);
		break;
	case 3:
		want = m_split(gpa);
		got = kvmhold_txn_split(txn, gpa);
		break;
	case 4:
		gpa = merge_target(&size);
		want = m_merge(gpa, size);
		got = kvmhold_txn_merge(txn, gpa, size);
		break;
	case 5:
		size = rand_size(2);
		other = rand_gpa();
		if ((other - base) / PAGE + size / PAGE > NP)
			return;
		want = m_move(gpa, size, other);
		got = kvmhold_txn_move(txn, gpa, size, other);
		break;
	default:
		size = rand_size(3);
		flags = rand_flags();
		want = m_set_flags(gpa, size, flags);
		got = kvmhold_txn_set_flags(txn, gpa, size, flags);
		break;
	}
	CHECK(got == want, "op %u: library says %d (%s), the model %d (%s)", op, got,
	      strerror(-got), want, strerror(-want));
	*valid += got == 0;
	compare_txn(txn, op);
}

int main(void)
{
	struct tvm_opts o = { .nr_vcpus = 1, .program = GUEST_PROG_PROBE, .test_size = NP * PAGE,
			      .quiet = true };
	unsigned op = 0, valid = 0, commits = 0, aborts = 0, probes = 0;
	struct tvm *t;

	test_apply_breakage();
	CHECK_OK(tvm_create(&o, &t));
	base = t->test_gpa;
	host = mmap(NULL, HOST_NP * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(host != MAP_FAILED, "mmap");
	for (unsigned j = 0; j < HOST_NP; j++)
		*(uint64_t *)(host + j * PAGE) = MARK(j);
	CHECK_OK(tvm_start(t));

	while (op < OPS) {
		struct kvmhold_txn *txn;
		unsigned n = 1 + (unsigned)rnd(8);

		CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
		while (n-- > 0 && op < OPS)
			one_op(txn, op++, &valid);
		if (rnd(10) == 0) {
			kvmhold_txn_abort(txn);
			memcpy(model, committed, sizeof(model));
			aborts++;
		} else {
			CHECK_OK(kvmhold_txn_commit(txn));
			memcpy(committed, model, sizeof(model));
			commits++;
		}
		compare_committed(t->vm, op);
		if (commits % 10 == 0) {
			compare_kvm(t, op);
			probes++;
		}
	}
	compare_kvm(t, op);
	printf("%u operations (%u valid, %u refused exactly as the model), %u commits, "
	       "%u aborts; table and model agreed after every one, KVM (read by the guest) "
	       "at %u points\n", OPS, valid, OPS - valid, commits, aborts, probes + 1);
	CHECK(tvm_failures(t) == 0, "guest failures: %s", tvm_failure_msg(t, 0));
	tvm_destroy(t);
	munmap(host, HOST_NP * PAGE);
	return 0;
}
