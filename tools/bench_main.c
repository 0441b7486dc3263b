// SPDX-License-Identifier: MIT
/*
 * kvmhold-bench: options, dispatch, --help (usage() gives the synopsis).  Each
 * section named runs in the order given (default: compare) and adds to one
 * report: tables on stdout, optionally a --json file (tools/report.py draws the
 * HTML page from it).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define EXIT_USAGE 2

const char *const section_names[SEC__COUNT] = {
	"compare", "hold", "txn", "dirty", "gate", "scale", "vcpus",
};

/* The options in brief; tools/README.md says what each does in full. */
static void usage(FILE *f)
{
	unsigned i;

	fprintf(f,
"usage: kvmhold-bench [compare] [hold] [txn] [dirty] [gate] [scale] [vcpus] [options]\n"
"\n"
"Measures kvmhold on this machine's KVM next to references of the same run:\n"
"floor (one bare signal-to-EINTR round trip) and ideal (the same memslot\n"
"ioctls with the vCPUs already stopped).  Sections run in the order given\n"
"(default: compare); tools/README.md describes each and the JSON.\n"
"\n"
"Strategies of compare:\n");
	for (i = 0; i < NR_STRATEGIES; i++)
		fprintf(f, "  %-17s %s\n", strategies[i]->name, strategies[i]->what);
	fprintf(f, "  %-17s %s\n", "ideal", strat_ideal.what);
	fprintf(f,
"\n"
"Options:\n"
"  --vcpus LIST        vCPU counts, 1..%u (compare 2, hold 1,2, txn 2, vcpus 1,2,8,64,256)\n"
"  --slots LIST        extra 1-page memslots, 0..32700 (compare, txn)\n"
"  --op OP             compare: split, merge, grow, shrink, move, log, mix (default)\n"
"  --strategies LIST   compare: the strategies run (default all)\n"
"  --rate LIST         compare: transactions per second, 0 as fast as possible (default 0)\n"
"  --count N           transactions per strategy\n"
"  --duration S        seconds per strategy (default 2)\n"
"  --rounds N          compare: rounds the time is split into, 1..32 (default 5)\n"
"  --samples N         samples per measurement (default 200; per section: README)\n"
"  --pages N           walked pages, even, 16..4096 (default 16)\n"
"  --json FILE         write the report as JSON (tools/report.py draws the page)\n"
"  --migrate           compare: a migration check per line\n"
"  --migrate-count N   transactions per migration check (default 1000)\n"
"  --region-mib N      dirty: the logged region, 16..2048 MiB (default 1024)\n"
"  --sync-pages N      dirty: pages written before a \"many\" sync (default 16384)\n"
"  --sync-samples N    dirty: syncs timed per level (default 10)\n"
"  --always-hold       txn: the library's VMs use KVMHOLD_VM_ALWAYS_HOLD\n"
"  --park-timeout-ms N gate: how long a parked vCPU gets to return (default 200)\n"
"  --scale-slots LIST  scale: slot counts (default 1,1024,8192,32000)\n"
"  --scale-gib LIST    scale: logged slot sizes in GiB (default 1,16,64,256,1024)\n"
"  --list-strategies   the names of every line of compare, one a line\n"
"  -h, --help          this text\n"
"\n"
"Exit status: 0 when every section ran, 1 when one could not be measured,\n"
"2 for bad options.  Targets are reported, never enforced.\n",
		TVM_MAX_VCPUS);
}

__attribute__((format(printf, 1, 2), noreturn))
static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("kvmhold-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(kvmhold-bench --help lists the options)\n", stderr);
	exit(EXIT_USAGE);
}

static unsigned long long parse_uint(const char *opt, const char *s, unsigned long long min,
				     unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *s == '-' || errno || *end)
		bad_usage("%s: '%s' is not a number", opt, s);
	if (v < min || v > max)
		bad_usage("%s: %llu is out of range (%llu..%llu)", opt, v, min, max);
	return v;
}

static double parse_double(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v != v)
		bad_usage("%s: '%s' is not a number", opt, s);
	if (v < min || v > max)
		bad_usage("%s: %g is out of range (%g..%g)", opt, v, min, max);
	return v;
}

static unsigned parse_list(const char *opt, const char *s, unsigned *out, unsigned min,
			   unsigned max)
{
	char buf[512], *tok, *save = NULL;
	unsigned n = 0;

	if (strlen(s) >= sizeof(buf) || !*s)
		bad_usage("%s: bad list '%s'", opt, s);
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == BENCH_MAX_LIST)
			bad_usage("%s: at most %d values", opt, BENCH_MAX_LIST);
		out[n++] = (unsigned)parse_uint(opt, tok, min, max);
	}
	if (!n || s[strlen(s) - 1] == ',' || s[0] == ',' || strstr(s, ",,"))
		bad_usage("%s: bad list '%s'", opt, s);
	return n;
}

static unsigned parse_strategies(const char *s)
{
	char buf[256], *tok, *save = NULL;
	unsigned mask = 0;

	if (strlen(s) >= sizeof(buf) || !*s)
		bad_usage("--strategies: bad list '%s'", s);
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int i = strategy_index(tok);

		if (!strcmp(tok, "floor") || !strcmp(tok, "ideal"))
			continue;   /* always measured */
		if (i < 0)
			bad_usage("--strategies: unknown strategy '%s'", tok);
		mask |= 1u << i;
	}
	if (!mask && !strstr(s, "floor") && !strstr(s, "ideal"))
		bad_usage("--strategies: bad list '%s'", s);
	return mask;
}

static enum cmp_op parse_op(const char *s)
{
	int i;

	for (i = 0; i < CMP__COUNT; i++)
		if (!strcmp(s, cmp_ops[i].name))
			return (enum cmp_op)i;
	bad_usage("--op: unknown operation '%s' (split, merge, grow, shrink, move, log, mix)", s);
}

/* argv joined by spaces, argv[0] as "kvmhold-bench"; cut within the first that does not fit. */
static void save_cmdline(struct bench_opts *o, int argc, char **argv)
{
	size_t len = 0;
	int i;

	for (i = 0; i < argc && len < sizeof(o->cmdline); i++)
		len += (size_t)snprintf(o->cmdline + len, sizeof(o->cmdline) - len, "%s%s",
					i ? " " : "", i ? argv[i] : "kvmhold-bench");
}

enum { OPT_VCPUS = 256, OPT_SLOTS, OPT_OP, OPT_STRATEGIES, OPT_RATE, OPT_COUNT, OPT_DURATION,
       OPT_ROUNDS, OPT_SAMPLES, OPT_PAGES, OPT_JSON, OPT_MIGRATE, OPT_MIGRATE_COUNT,
       OPT_REGION_MIB, OPT_SYNC_PAGES, OPT_SYNC_SAMPLES, OPT_ALWAYS_HOLD, OPT_PARK_TIMEOUT,
       OPT_SCALE_SLOTS, OPT_SCALE_GIB, OPT_LIST };

static void parse(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{ "vcpus", required_argument, NULL, OPT_VCPUS },
		{ "slots", required_argument, NULL, OPT_SLOTS },
		{ "op", required_argument, NULL, OPT_OP },
		{ "strategies", required_argument, NULL, OPT_STRATEGIES },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "samples", required_argument, NULL, OPT_SAMPLES },
		{ "pages", required_argument, NULL, OPT_PAGES },
		{ "json", required_argument, NULL, OPT_JSON },
		{ "migrate", no_argument, NULL, OPT_MIGRATE },
		{ "migrate-count", required_argument, NULL, OPT_MIGRATE_COUNT },
		{ "region-mib", required_argument, NULL, OPT_REGION_MIB },
		{ "sync-pages", required_argument, NULL, OPT_SYNC_PAGES },
		{ "sync-samples", required_argument, NULL, OPT_SYNC_SAMPLES },
		{ "always-hold", no_argument, NULL, OPT_ALWAYS_HOLD },
		{ "park-timeout-ms", required_argument, NULL, OPT_PARK_TIMEOUT },
		{ "scale-slots", required_argument, NULL, OPT_SCALE_SLOTS },
		{ "scale-gib", required_argument, NULL, OPT_SCALE_GIB },
		{ "list-strategies", no_argument, NULL, OPT_LIST },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, i;
	unsigned k;

	*o = (struct bench_opts){
		.op = CMP_MIX, .strategies = (1u << NR_STRATEGIES) - 1, .duration = 2.0,
		.rounds = 5, .samples = 200, .pages = 16, .migrate_count = 1000, .region_mib = 1024,
		.sync_pages = 16384, .sync_samples = 10, .park_timeout_ms = 200,
	};
	save_cmdline(o, argc, argv);

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1 || optind < argc) {
		if (c == -1) {
			/* A section name; getopt stops at the first non-option ("+"). */
			const char *a = argv[optind++];

			for (i = 0; i < SEC__COUNT; i++)
				if (!strcmp(a, section_names[i]))
					break;
			if (i == SEC__COUNT)
				bad_usage("unknown section '%s' (compare, hold, txn, dirty, gate, scale, vcpus)", a);
			for (k = 0; k < o->nr_sections; k++)
				if (o->sections[k] == (enum section)i)
					bad_usage("section '%s' given twice", a);
			o->sections[o->nr_sections++] = (enum section)i;
			continue;
		}
		switch (c) {
		case OPT_VCPUS:
			o->nr_vcpus = parse_list("--vcpus", optarg, o->vcpus, 1, TVM_MAX_VCPUS);
			break;
		case OPT_SLOTS:
			o->nr_slots = parse_list("--slots", optarg, o->slots, 0, 32700);
			break;
		case OPT_OP:
			o->op = parse_op(optarg);
			break;
		case OPT_STRATEGIES:
			o->strategies = parse_strategies(optarg);
			break;
		case OPT_RATE:
			o->nr_rates = parse_list("--rate", optarg, o->rates, 0, 1000000);
			o->rate = o->rates[0];
			break;
		case OPT_COUNT:
			o->count = parse_uint("--count", optarg, 1, 100000000);
			break;
		case OPT_DURATION:
			o->duration = parse_double("--duration", optarg, 0.05, 3600);
			o->duration_given = true;
			break;
		case OPT_ROUNDS:
			o->rounds = (unsigned)parse_uint("--rounds", optarg, 1, CMP_MAX_ROUNDS);
			break;
		case OPT_ALWAYS_HOLD:
			o->vm_flags |= KVMHOLD_VM_ALWAYS_HOLD;
			break;
		case OPT_PARK_TIMEOUT:
			o->park_timeout_ms = (unsigned)parse_uint("--park-timeout-ms", optarg, 1, 60000);
			break;
		case OPT_SAMPLES:
			o->samples = (unsigned)parse_uint("--samples", optarg, 1, 1000000);
			o->samples_given = true;
			break;
		case OPT_PAGES:
			o->pages = (unsigned)parse_uint("--pages", optarg, 16, 4096);
			if (o->pages % 2)
				bad_usage("--pages: %u is odd (the split cuts it in half)", o->pages);
			o->pages_given = true;
			break;
		case OPT_JSON:
			o->json_path = optarg;
			break;
		case OPT_MIGRATE:
			o->migrate = true;
			break;
		case OPT_MIGRATE_COUNT:
			o->migrate_count = parse_uint("--migrate-count", optarg, 1, 10000000);
			break;
		case OPT_REGION_MIB:
			o->region_mib = (unsigned)parse_uint("--region-mib", optarg, 16, 2048);
			break;
		case OPT_SYNC_PAGES:
			o->sync_pages = (unsigned)parse_uint("--sync-pages", optarg, 64, 131072);
			break;
		case OPT_SYNC_SAMPLES:
			o->sync_samples = (unsigned)parse_uint("--sync-samples", optarg, 1, 100000);
			break;
		case OPT_SCALE_SLOTS:
			o->nr_scale_slots = parse_list("--scale-slots", optarg, o->scale_slots, 1, 32700);
			break;
		case OPT_SCALE_GIB:
			o->nr_scale_gib = parse_list("--scale-gib", optarg, o->scale_gib, 1, 4096);
			break;
		case OPT_LIST:
			for (k = 0; k < NR_STRATEGIES; k++)
				printf("%s\n", strategies[k]->name);
			printf("ideal\nfloor\n");
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			bad_usage("%s needs a value", argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				bad_usage("unknown option '-%c'", optopt);
			bad_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (!o->nr_sections)
		o->sections[o->nr_sections++] = SEC_COMPARE;
}

static int (*const run_section[SEC__COUNT])(const struct bench_opts *, struct report *) = {
	[SEC_COMPARE] = run_compare, [SEC_HOLD] = run_hold, [SEC_TXN] = run_txn,
	[SEC_DIRTY] = run_dirty, [SEC_GATE] = run_gate, [SEC_SCALE] = run_scale,
	[SEC_VCPUS] = run_vcpus,
};

int main(int argc, char **argv)
{
	static struct report rep;
	static struct bench_opts o;
	int failed = 0;
	unsigned i;

	/* By lines even into a file or pipe: each section's lines show once it is measured. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	parse(argc, argv, &o);
	if (!tvm_kvm_available()) {
		bench_err("/dev/kvm cannot be opened for reading and writing: %s", strerror(errno));
		return 1;
	}
	machine_describe(&rep.machine);
	rep.opts = &o;
	printf("kvmhold-bench: kernel %s, KVM %s, %ld cores, %s\n", rep.machine.kernel,
	       rep.machine.backend[0] ? rep.machine.backend : "(backend not visible)",
	       rep.machine.cores, rep.machine.cpu_model[0] ? rep.machine.cpu_model : "CPU unknown");
	printf("Times on this machine do not transfer; compare the lines of one run.\n\n");

	for (i = 0; i < o.nr_sections; i++) {
		uint64_t t0 = bench_now_ns();

		failed |= run_section[o.sections[i]](&o, &rep) != 0;
		rep.seconds[o.sections[i]] = (bench_now_ns() - t0) / 1e9;
	}
	bench_progress_done();
	/* The JSON (or why it could not be written) before the last line, as ever. */
	if (o.json_path && report_json(o.json_path, &rep)) {
		bench_err("cannot write %s: %s", o.json_path, strerror(errno));
		failed = 1;
	}
	summary_seconds(stdout, &rep);
	return failed ? 1 : 0;
}
