// SPDX-License-Identifier: MIT
/*
 * kvmhold-checker: the kvmtool lane's workload inside the second-level
 * guest (the Linux that lkvm boots).  It writes data, keeps it a while and
 * reads it back, so that a page the VMM lost, left stale or unmapped while
 * it reshaped the guest's memory shows up as a wrong value, and it has
 * lkvm's virtio-blk thread write guest memory (disk reads), so that the
 * VMM's dirty tracking must account for device writes.
 *
 * Until SECONDS have passed:
 *   memory  rounds over the whole allocation (MEM_PERCENT of MemAvailable
 *           at start, every page touched): checked for the previous
 *           round's values, then written with this round's: per page a
 *           tag word (checker, page), the round, and one word per 64-byte
 *           line derived from (checker, round, page, line); a lost page
 *           reads as zero, a stale one as an older round, a misplaced one
 *           as another page's tag.  A write pass cut short by the deadline
 *           is checked as far as it got;
 * and, at least once a second (from inside the memory pass, which can be
 * very slow while the VMM tracks dirty pages), a file and disk round:
 *   files   NFILES files in DIR (tmpfs): the previous round's content and
 *           its FNV-1a checksum (kept in a file beside it) checked, then
 *           new content and checksum written;
 *   disk    BLKDEV's blocks [FIRST, FIRST+COUNT): the blocks of the
 *           previous round read back (O_DIRECT, one block per read), then
 *           BATCH new blocks written (O_DIRECT) and read back at once;
 *           and a buffered write, fsync, BLKFLSBUF (drops the device's
 *           page cache) and buffered read of a few more.  Disk reads land
 *           in a pool of buffers the CPU never writes (a read that did
 *           not happen leaves another block's data there), so the pages
 *           the device wrote are dirtied by the device alone.
 *
 * Prints "kvmhold-guest: checker ID PASS|FAIL rounds=N pages=N
 * pages_verified=N files=N blk_ios=N errors=N secs=N" at the end (and the
 * first errors as they come); exit status 0 only without errors.
 *
 * usage: kvmhold-checker ID SECONDS MEM_PERCENT DIR BLKDEV FIRST COUNT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE        4096u
#define LINE_WORDS  8u                  /* words per 64-byte line */
#define PAGE_WORDS  (PAGE / 8u)
#define NFILES      8u
#define FILE_BYTES  (64u * 1024u)
#define BLK         4096u
#define BATCH       32u                 /* blocks per O_DIRECT batch */
#define BUF_BLOCKS  8u                  /* blocks per buffered batch */
#define POOL        64u                 /* read buffers of BATCH blocks */
#define MAX_REPORTS 10

static unsigned id;
static unsigned long errors;

static void report(const char *fmt, ...)
{
	va_list ap;

	errors++;
	if (errors > MAX_REPORTS)
		return;
	printf("kvmhold-guest: checker %u ERROR ", id);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void die(const char *what)
{
	printf("kvmhold-guest: checker %u ERROR %s: %s\n", id, what, strerror(errno));
	fflush(stdout);
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64's finaliser: distinct inputs give unrelated words. */
static uint64_t mix(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t x = a * 0x9e3779b97f4a7c15ull ^ b * 0xbf58476d1ce4e5b9ull ^
		     c * 0x94d049bb133111ebull ^ d * 0xd6e8feb86659fd93ull;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* ---- memory ------------------------------------------------------------ */

#define MEM_MAGIC 0x6b76686f6c64ull     /* "kvhold" */

static uint64_t page_tag(uint64_t page)
{
	return MEM_MAGIC << 16 ^ (uint64_t)id << 56 ^ page;
}

static double now(void);
static void io_due(void);

/* Writes round's values from page 0 on until the deadline; returns how many
 * pages it wrote (all of them unless the time ran out).  Every 256 pages it
 * lets the file and disk work run if it is due. */
static uint64_t mem_write(uint64_t *mem, uint64_t pages, uint64_t round, double deadline)
{
	for (uint64_t p = 0; p < pages; p++) {
		uint64_t *w = mem + p * PAGE_WORDS;

		if (p % 256 == 0) {
			if (now() >= deadline)
				return p;
			io_due();
		}

		w[0] = page_tag(p);
		w[1] = round;
		for (unsigned l = 1; l < PAGE_WORDS / LINE_WORDS; l++)
			w[l * LINE_WORDS] = mix(id, round, p, l);
	}
	return pages;
}

/* Checks pages [from, to) for round's values; returns how many. */
static uint64_t mem_verify(const uint64_t *mem, uint64_t from, uint64_t to, uint64_t round)
{
	for (uint64_t p = from; p < to; p++) {
		const uint64_t *w = mem + p * PAGE_WORDS;

		if (w[0] != page_tag(p) || w[1] != round) {
			if (w[0] == 0 && w[1] == 0)
				report("memory page %" PRIu64 ": zero page (lost), want round %" PRIu64,
				       p, round);
			else if (w[0] != page_tag(p))
				report("memory page %" PRIu64 ": tag %#" PRIx64 " (page %" PRIu64
				       "), want %#" PRIx64 " in round %" PRIu64, p, w[0],
				       w[0] & 0xffff, page_tag(p), round);
			else
				report("memory page %" PRIu64 ": stale, round %" PRIu64 " want %" PRIu64,
				       p, w[1], round);
			continue;
		}
		for (unsigned l = 1; l < PAGE_WORDS / LINE_WORDS; l++) {
			uint64_t want = mix(id, round, p, l);

			if (w[l * LINE_WORDS] != want) {
				report("memory page %" PRIu64 " line %u: %#" PRIx64 " want %#" PRIx64
				       " (round %" PRIu64 ")", p, l, w[l * LINE_WORDS], want, round);
				break;
			}
		}
	}
	return to - from;
}

/* ---- files on tmpfs ---------------------------------------------------- */

#define FILE_SALT 0x66696c65ull

static uint64_t fnv1a(const unsigned char *b, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void file_fill(uint64_t *buf, uint64_t round, unsigned f)
{
	for (unsigned i = 0; i < FILE_BYTES / 8; i++)
		buf[i] = mix(id ^ FILE_SALT, round, f, i);
}

static void write_all(const char *path, const void *b, size_t n)
{
	char tmp[256];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(tmp);
	if (write(fd, b, n) != (ssize_t)n)
		die(tmp);
	if (close(fd) != 0)
		die(tmp);
	if (rename(tmp, path) != 0)
		die(path);
}

static ssize_t read_all(const char *path, void *b, size_t n)
{
	int fd = open(path, O_RDONLY);
	ssize_t got = 0, r;

	if (fd < 0)
		return -1;
	while ((size_t)got < n && (r = read(fd, (char *)b + got, n - (size_t)got)) > 0)
		got += r;
	close(fd);
	return got;
}

/* Checks round-1's files (if any), writes round's; returns files checked. */
static unsigned files_round(const char *dir, uint64_t *buf, uint64_t *want, uint64_t round)
{
	char path[200], sum[232], text[32];
	unsigned checked = 0;

	for (unsigned f = 0; f < NFILES; f++) {
		snprintf(path, sizeof(path), "%s/f%u", dir, f);
		snprintf(sum, sizeof(sum), "%s.sum", path);
		if (round > 0) {
			ssize_t n = read_all(path, buf, FILE_BYTES + 1);
			ssize_t t = read_all(sum, text, sizeof(text) - 1);
			uint64_t h;

			checked++;
			if (n != FILE_BYTES || t <= 0) {
				report("file %s: %zd bytes, checksum file %zd bytes (round %" PRIu64 ")",
				       path, n, t, round - 1);
			} else {
				text[t] = 0;
				h = fnv1a((const unsigned char *)buf, FILE_BYTES);
				file_fill(want, round - 1, f);
				if (strtoull(text, NULL, 16) != h)
					report("file %s: checksum %016" PRIx64 ", stored %s (round %" PRIu64 ")",
					       path, h, text, round - 1);
				else if (memcmp(buf, want, FILE_BYTES) != 0)
					report("file %s: content differs with a matching checksum (round %"
					       PRIu64 ")", path, round - 1);
			}
		}
		file_fill(buf, round, f);
		write_all(path, buf, FILE_BYTES);
		snprintf(text, sizeof(text), "%016" PRIx64 "\n",
			 fnv1a((const unsigned char *)buf, FILE_BYTES));
		write_all(sum, text, strlen(text));
	}
	return checked;
}

/* ---- the virtio-blk disk ----------------------------------------------- */

#define BLK_SALT 0x626c6bull

static void blk_fill(uint64_t *b, uint64_t round, uint64_t block)
{
	b[0] = BLK_SALT << 40 ^ (uint64_t)id << 32 ^ block;
	b[1] = round;
	for (unsigned i = 2; i < BLK / 8; i++)
		b[i] = mix(id ^ BLK_SALT, round, block, i);
}

static void blk_check(const uint64_t *b, uint64_t round, uint64_t block, const char *how)
{
	static uint64_t want[BLK / 8];

	blk_fill(want, round, block);
	if (memcmp(b, want, BLK) == 0)
		return;
	if (b[0] != want[0] || b[1] != round)
		report("disk block %" PRIu64 " (%s read): header %#" PRIx64 "/%" PRIu64
		       ", want %#" PRIx64 "/%" PRIu64, block, how, b[0], b[1], want[0], round);
	else
		report("disk block %" PRIu64 " (%s read): content differs (round %" PRIu64 ")",
		       block, how, round);
}

static void io(int fd, int write_, void *b, size_t n, uint64_t block, const char *what)
{
	ssize_t r = write_ ? pwrite(fd, b, n, (off_t)(block * BLK))
			   : pread(fd, b, n, (off_t)(block * BLK));

	if (r != (ssize_t)n) {
		if (r < 0)
			die(what);
		report("%s at block %" PRIu64 ": %zd of %zu bytes", what, block, r, n);
	}
}

struct disk {
	int dfd, bfd;                   /* O_DIRECT, buffered */
	uint64_t first, count;          /* region */
	uint64_t next;                  /* next batch's offset in the region */
	uint64_t last, last_round;      /* previous batch's offset, round */
	int have_last;
	unsigned char *pool;            /* POOL read buffers, never CPU-written */
	unsigned pool_next;
	uint64_t *wbuf;                 /* BATCH blocks to write */
	unsigned long ios;
};

static unsigned char *pool_buf(struct disk *d)
{
	unsigned char *b = d->pool + (size_t)d->pool_next * BATCH * BLK;

	d->pool_next = (d->pool_next + 1) % POOL;
	return b;
}

static void disk_round(struct disk *d, uint64_t round)
{
	uint64_t span = d->count - BUF_BLOCKS;  /* the O_DIRECT part */
	unsigned char *rb;

	/* The previous batch, one block per read, a while after it was written. */
	if (d->have_last) {
		rb = pool_buf(d);
		for (unsigned i = 0; i < BATCH; i++) {
			uint64_t blk = d->first + (d->last + i) % span;

			io(d->dfd, 0, rb + (size_t)i * BLK, BLK, blk, "O_DIRECT read");
			d->ios++;
			blk_check((const uint64_t *)(rb + (size_t)i * BLK), d->last_round, blk,
				  "O_DIRECT");
		}
	}
	/* A new batch, written in one request and read back in one. */
	if (d->next + BATCH > span)
		d->next = 0;
	for (unsigned i = 0; i < BATCH; i++)
		blk_fill(d->wbuf + (size_t)i * (BLK / 8), round, d->first + d->next + i);
	io(d->dfd, 1, d->wbuf, (size_t)BATCH * BLK, d->first + d->next, "O_DIRECT write");
	rb = pool_buf(d);
	io(d->dfd, 0, rb, (size_t)BATCH * BLK, d->first + d->next, "O_DIRECT read");
	d->ios += 2;
	for (unsigned i = 0; i < BATCH; i++)
		blk_check((const uint64_t *)(rb + (size_t)i * BLK), round, d->first + d->next + i,
			  "O_DIRECT");
	d->last = d->next;
	d->last_round = round;
	d->have_last = 1;
	d->next += BATCH;

	/* Through the page cache: written, synced, dropped, read again. */
	uint64_t bfirst = d->first + span;

	for (unsigned i = 0; i < BUF_BLOCKS; i++)
		blk_fill(d->wbuf + (size_t)i * (BLK / 8), round, bfirst + i);
	io(d->bfd, 1, d->wbuf, (size_t)BUF_BLOCKS * BLK, bfirst, "buffered write");
	if (fsync(d->bfd) != 0)
		die("fsync");
	/* A regular file (a test outside the guest) has no BLKFLSBUF. */
	if (ioctl(d->bfd, BLKFLSBUF, 0) != 0 &&
	    (errno != ENOTTY || posix_fadvise(d->bfd, 0, 0, POSIX_FADV_DONTNEED) != 0))
		die("BLKFLSBUF");
	rb = pool_buf(d);
	io(d->bfd, 0, rb, (size_t)BUF_BLOCKS * BLK, bfirst, "buffered read");
	d->ios += 2;
	for (unsigned i = 0; i < BUF_BLOCKS; i++)
		blk_check((const uint64_t *)(rb + (size_t)i * BLK), round, bfirst + i, "buffered");
}

/* ---- file and disk rounds, at least once a second ------------------------ */

#define IO_EVERY 1.0    /* seconds */

static struct disk disk;
static const char *file_dir;
static uint64_t *fbuf, *fwant;
static uint64_t io_rounds;
static unsigned long files;
static double io_last;

/*
 * The file and disk work has a round count of its own: a memory round can
 * take minutes in a slow guest (every page written faults to the L1 KVM
 * while the VMM tracks dirty pages), and the device must keep writing
 * guest memory all along.
 */
static void io_round(void)
{
	files += files_round(file_dir, fbuf, fwant, io_rounds);
	disk_round(&disk, io_rounds);
	io_rounds++;
	io_last = now();
}

static void io_due(void)
{
	if (now() - io_last >= IO_EVERY)
		io_round();
}

/* ---- main -------------------------------------------------------------- */

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long long kb = 0;

	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: %s ID SECONDS MEM_PERCENT DIR BLKDEV FIRST COUNT\n", argv[0]);
		return 2;
	}
	id = (unsigned)strtoul(argv[1], NULL, 0);
	double seconds = strtod(argv[2], NULL);
	unsigned pct = (unsigned)strtoul(argv[3], NULL, 0);
	const char *dir = argv[4];
	struct disk *d = &disk;

	d->first = strtoull(argv[6], NULL, 0);
	d->count = strtoull(argv[7], NULL, 0);
	file_dir = dir;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (d->count < BATCH + BUF_BLOCKS) {
		fprintf(stderr, "COUNT must be at least %u\n", BATCH + BUF_BLOCKS);
		return 2;
	}

	/* One checker per CPU. */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu > 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(id % (unsigned)ncpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}

	uint64_t pages = mem_available() / 100 * pct / PAGE;
	uint64_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");

	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die(dir);
	fbuf = malloc(FILE_BYTES + 8);
	fwant = malloc(FILE_BYTES);
	if (!fbuf || !fwant)
		die("malloc");

	d->dfd = open(argv[5], O_RDWR | O_DIRECT);
	if (d->dfd < 0)
		die(argv[5]);
	d->bfd = open(argv[5], O_RDWR);
	if (d->bfd < 0)
		die(argv[5]);
	if (posix_memalign((void **)&d->pool, PAGE, (size_t)POOL * BATCH * BLK) != 0 ||
	    posix_memalign((void **)&d->wbuf, PAGE, (size_t)BATCH * BLK) != 0)
		die("posix_memalign");

	printf("kvmhold-guest: checker %u start cpu=%u seconds=%.0f pages=%" PRIu64 " (%" PRIu64
	       " MiB) disk blocks %llu+%llu\n", id, sched_getcpu(), seconds, pages,
	       pages * PAGE >> 20, (unsigned long long)d->first, (unsigned long long)d->count);

	double t0 = now(), last_note = t0, deadline = t0 + seconds;
	uint64_t round = 0, verified = 0, split = 0;

	io_round();

	/*
	 * After round r's write, pages [0, split) hold round r and the rest
	 * round r-1 (split < pages only when the time ran out in the middle
	 * of the last write: a slow guest still stops on time).
	 */
	for (;;) {
		if (round > 0) {
			verified += mem_verify(mem, 0, split, round - 1);
			if (round > 1)
				verified += mem_verify(mem, split, pages, round - 2);
		}
		if (errors || now() >= deadline || (round > 0 && split < pages))
			break;
		split = mem_write(mem, pages, round, deadline);
		round++;
		if (split < pages)
			continue;
		io_due();
		if (now() - last_note >= 20) {
			last_note = now();
			printf("kvmhold-guest: checker %u round %" PRIu64 " at %.0fs\n", id, round,
			       last_note - t0);
		}
	}

	/* Rounds: the memory writes that went over every page. */
	printf("kvmhold-guest: checker %u %s rounds=%" PRIu64 " pages=%" PRIu64
	       " pages_verified=%" PRIu64 " files=%lu blk_ios=%lu errors=%lu secs=%.1f\n", id,
	       errors ? "FAIL" : "PASS", split < pages && round ? round - 1 : round, pages,
	       verified, files, d->ios, errors, now() - t0);
	return errors ? 1 : 0;
}
