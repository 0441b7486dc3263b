// SPDX-License-Identifier: MIT
/*
 * Transactions and dirty tracking on RAM backed by huge pages: hugetlbfs
 * (MAP_HUGETLB; as root the test raises vm.nr_hugepages for the run and
 * puts it back, and says so when the machine cannot reserve them) and
 * transparent huge pages (madvise MADV_HUGEPAGE on 2 MiB-aligned memory).
 * A guest writes exactly the pages the test names; the sync must report
 * exactly those 4 KiB pages, although the host backs them with 2 MiB ones,
 * across splits inside a huge page, a logging switch over a range that
 * straddles two huge pages, and a merge; and the data the guest wrote must
 * be in the host memory.
 *
 * Can fail: KVMHOLD_TEST_BREAK=dirty-harvest drops the bits of the slots
 * a split destroys, and the pages written before it go missing.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "check.h"
#include "tvm.h"

#define PAGE     4096ull
#define HUGE     (2ull << 20)
#define NHUGE    4
#define SIZE     (NHUGE * HUGE)
#define NP       (SIZE / PAGE)
#define WORDS    (NP / 64)

static struct tvm *t;
static const char *backing;

/* The guest writes value into these pages; the host then finds it there. */
static void guest_writes(const unsigned *pages, unsigned n, uint64_t value)
{
	uint64_t bm[WORDS];
	unsigned i;

	test_page_bits(bm, WORDS, pages, n);
	CHECK_OK(tvm_probe_write(t, bm, value, 20000));
	for (i = 0; i < n; i++)
		CHECK(*(volatile uint64_t *)((char *)t->test_hva + pages[i] * PAGE) == value,
		      "%s: page %u does not hold what the guest wrote", backing, pages[i]);
}

/* The sync reports these pages: exactly, or at least them. */
static void expect(const unsigned *pages, unsigned n, bool exact, const char *what)
{
	uint64_t got[WORDS], want[WORDS];
	unsigned w;

	CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, SIZE, got));
	test_page_bits(want, WORDS, pages, n);
	for (w = 0; w < WORDS; w++) {
		CHECK(!(want[w] & ~got[w]), "%s, %s: page(s) %#lx of word %u written, not reported",
		      backing, what, (unsigned long)(want[w] & ~got[w]), w);
		CHECK(!exact || got[w] == want[w], "%s, %s: pages %#lx of word %u reported, not written",
		      backing, what, (unsigned long)(got[w] & ~want[w]), w);
	}
}

static void commit_split(uint64_t page)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_split(txn, t->test_gpa + page * PAGE));
	CHECK_OK(kvmhold_txn_commit(txn));
}

static void commit_flags(uint64_t page, uint64_t pages, uint32_t flags)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_set_flags(txn, t->test_gpa + page * PAGE, pages * PAGE, flags));
	CHECK_OK(kvmhold_txn_commit(txn));
}

static void commit_merge_all(void)
{
	struct kvmhold_txn *txn;

	CHECK_OK(kvmhold_txn_begin(t->vm, &txn));
	CHECK_OK(kvmhold_txn_merge(txn, t->test_gpa, SIZE));
	CHECK_OK(kvmhold_txn_commit(txn));
}

static void run_on(void *mem, const char *what)
{
	struct tvm_opts o = {
		.nr_vcpus = 1, .program = GUEST_PROG_PROBE, .test_size = SIZE,
		.test_gpa = 1ull << 30, .test_mem = mem, .map_test_region = true,
		.test_slot_flags = KVM_MEM_LOG_DIRTY_PAGES, .quiet = true,
	};
	/* 511/512 and 1023/1024 straddle huge-page boundaries. */
	static const unsigned a[] = { 3, 511, 512, 700, 1023, 1024, 2047 };
	static const unsigned b[] = { 4, 5, 6, 601, 1500 };
	static const unsigned c[] = { 300, 700 };
	static const unsigned d[] = { 0, 513, 2000 };
	struct kvmhold_region r[8];
	uint64_t bm[WORDS];

	backing = what;
	CHECK_OK(tvm_create(&o, &t));
	CHECK_OK(tvm_start(t));
	CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, SIZE, bm));   /* drain */

	guest_writes(a, 7, 1);
	expect(a, 7, true, "plain writes");

	/* Splits inside a huge page: the written pages survive the re-created slots. */
	guest_writes(b, 5, 2);
	commit_split(5);
	commit_split(600);
	expect(b, 5, true, "writes, then two splits inside huge pages");

	/* Logging off over [256, 768), straddling the first two huge pages. */
	guest_writes(c, 2, 3);
	commit_flags(256, 512, 0);
	expect(c, 2, true, "writes, then logging off: the bits gathered are kept");
	commit_flags(256, 512, KVMHOLD_MEM_LOG_DIRTY);
	CHECK_OK(kvmhold_dirty_sync(t->vm, t->test_hva, SIZE, bm));

	guest_writes(d, 3, 4);
	commit_merge_all();
	CHECK(kvmhold_regions(t->vm, t->test_gpa, SIZE, r, 8) == 1, "merge left several slots");
	expect(d, 3, true, "writes, then a merge of every piece");

	CHECK_OK(tvm_stop(t));
	CHECK(tvm_failures(t) == 0, "%s: failures: %s", backing, tvm_failure_msg(t, 0));
	tvm_destroy(t);
	printf("%s: 4 KiB dirty pages exact across splits inside huge pages, logging "
	       "switched over two of them, and a merge\n", what);
}

static long read_long(const char *path)
{
	char buf[32] = { 0 };
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static bool write_long(const char *path, long v)
{
	char buf[32];
	int fd = open(path, O_WRONLY), len = snprintf(buf, sizeof(buf), "%ld\n", v);
	bool ok = fd >= 0 && write(fd, buf, (size_t)len) == len;

	if (fd >= 0)
		close(fd);
	return ok;
}

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

/*
 * The value to put back, or -1: restored at exit, also when a CHECK fails
 * (exit) or the runner's time limit kills the test (SIGTERM), so that a
 * failing run (check-prove makes some on purpose) leaves no pages reserved.
 */
static volatile long hugepages_restore = -1;

static void restore_hugepages(void)
{
	char buf[32];
	int fd, len;

	if (hugepages_restore < 0)
		return;
	len = snprintf(buf, sizeof(buf), "%ld\n", hugepages_restore);
	fd = open(NR_HUGEPAGES, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, buf, (size_t)len) != len)
			len = -1;
		close(fd);
	}
	hugepages_restore = -1;
}

static void on_term(int sig)
{
	restore_hugepages();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* hugetlbfs memory for SIZE bytes, reserving pages as root if needed; NULL and why. */
static void *hugetlb_memory(long *restore, const char **why)
{
	void *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	long before = read_long(NR_HUGEPAGES);

	*restore = -1;
	if (p != MAP_FAILED)
		return p;
	if (before < 0 || !write_long(NR_HUGEPAGES, before + NHUGE)) {
		*why = "cannot raise vm.nr_hugepages (not root?)";
		return NULL;
	}
	*restore = before;
	hugepages_restore = before;
	p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED) {
		*why = "vm.nr_hugepages raised, but the kernel found no free huge pages";
		return NULL;
	}
	return p;
}

/* 2 MiB-aligned anonymous memory with MADV_HUGEPAGE; the mapping to unmap in *base. */
static void *thp_memory(void **base)
{
	char *p = mmap(NULL, SIZE + HUGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *aligned;

	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	*base = p;
	aligned = (char *)(((uintptr_t)p + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
	CHECK(madvise(aligned, SIZE, MADV_HUGEPAGE) == 0, "madvise: %s", strerror(errno));
	memset(aligned, 0, SIZE);   /* fault it in, as huge pages where the kernel can */
	return aligned;
}

/* kB of the mapping at p that the kernel backs with transparent huge pages (-1: unknown). */
static long thp_kb(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	bool inside = false;
	long kb = -1;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kb;
}

int main(void)
{
	const char *why = "?";
	long restore;
	void *mem, *base;

	test_apply_breakage();
	atexit(restore_hugepages);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	mem = hugetlb_memory(&restore, &why);
	if (mem) {
		run_on(mem, "hugetlbfs");
		munmap(mem, SIZE);
	} else {
		printf("hugetlbfs: not tested: %s\n", why);
	}
	if (restore >= 0 && !write_long(NR_HUGEPAGES, restore))
		fprintf(stderr, "could not put vm.nr_hugepages back to %ld\n", restore);
	hugepages_restore = -1;

	mem = thp_memory(&base);
	printf("transparent huge pages: %ld kB of %llu kB backed by huge pages before the run%s\n",
	       thp_kb(mem), SIZE / 1024,
	       thp_kb(mem) > 0 ? "" : " (none: this run tests small pages only)");
	run_on(mem, "transparent huge pages");
	printf("transparent huge pages: %ld kB after\n", thp_kb(mem));
	munmap(base, SIZE + HUGE);
	return 0;
}
