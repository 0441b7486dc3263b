// SPDX-License-Identifier: MIT
/*
 * What machine the numbers come from: kernel, KVM backend, cores, CPU.
 * Only facts the process can read; anything it cannot see stays empty.
 */
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* The loaded KVM vendor modules, from /sys/module, "+" between them. */
static void kvm_backend(char *buf, size_t size)
{
	static const char *const mods[] = { "kvm_pvm", "kvm_intel", "kvm_amd", "kvm_arm" };
	char path[64];
	size_t i;
	int len = 0;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(mods); i++) {
		snprintf(path, sizeof(path), "/sys/module/%s", mods[i]);
		if (!access(path, F_OK) && len < (int)size)
			len += snprintf(buf + len, size - (size_t)len, "%s%s", len ? "+" : "",
					mods[i]);
	}
}

static void cpuinfo(struct machine_info *mi)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool model = false, flags = false;

	if (!f)
		return;
	while ((!model || !flags) && fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');

		if (!v)
			continue;
		v += 1 + strspn(v + 1, " \t");
		v[strcspn(v, "\n")] = '\0';
		if (!model && strncmp(line, "model name", 10) == 0) {
			snprintf(mi->cpu_model, sizeof(mi->cpu_model), "%s", v);
			model = true;
		} else if (!flags && strncmp(line, "flags", 5) == 0) {
			mi->hypervisor = strstr(v, " hypervisor") || !strncmp(v, "hypervisor", 10);
			flags = true;
		}
	}
	fclose(f);
}

void machine_describe(struct machine_info *mi)
{
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;

	memset(mi, 0, sizeof(*mi));
	if (uname(&u) == 0) {
		snprintf(mi->kernel, sizeof(mi->kernel), "%s", u.release);
		snprintf(mi->arch, sizeof(mi->arch), "%s", u.machine);
	}
	kvm_backend(mi->backend, sizeof(mi->backend));
	mi->cores = sysconf(_SC_NPROCESSORS_ONLN);
	cpuinfo(mi);
	mi->nr_memslots = bench_kvm_cap(KVM_CAP_NR_MEMSLOTS);
	mi->max_vcpus = bench_kvm_cap(KVM_CAP_MAX_VCPUS);
	if (gmtime_r(&now, &tm))
		strftime(mi->date, sizeof(mi->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
}
