// SPDX-License-Identifier: MIT
/*
 * The dirty store's record of logged host ranges against a brute-force
 * model: random ranges (overlapping, touching, apart) recorded one at a
 * time and in a commit's batches, the record checked after each step to
 * be sorted, disjoint and not touching, and every page's "was it ever
 * logged" answered as the model does.  No KVM involved: the structure
 * alone.
 *
 * Can fail: KVMHOLD_TEST_BREAK=logged-merge makes a batch append its
 * ranges unsorted and unjoined.
 */
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "dirty_store.h"

#define PAGE  4096ull
#define PAGES 2048
#define BASE  (1ull << 40)

static bool model[PAGES];
static uint64_t rng = 0x853c49e6748fea9bull;

static struct hva_range random_range(void)
{
	uint64_t first = test_rand(&rng, PAGES), len = 1 + test_rand(&rng, test_rand(&rng, 4) ? 8 : 64);

	if (first + len > PAGES)
		len = PAGES - first;
	for (uint64_t p = first; p < first + len; p++)
		model[p] = true;
	return (struct hva_range){ BASE + first * PAGE, BASE + (first + len) * PAGE };
}

static void check_record(struct dirty_store *ds, unsigned step)
{
	size_t i;

	for (i = 0; i < ds->nr_logged; i++) {
		CHECK(ds->logged[i].start < ds->logged[i].end, "step %u: empty range %zu", step, i);
		CHECK(i == 0 || ds->logged[i - 1].end < ds->logged[i].start,
		      "step %u: ranges %zu and %zu overlap, touch or are out of order", step, i - 1, i);
	}
	for (i = 0; i < PAGES; i++)
		CHECK(dirty_store_was_logged(ds, BASE + i * PAGE, BASE + (i + 1) * PAGE) == model[i],
		      "step %u: page %zu logged %d, model %d", step, i,
		      dirty_store_was_logged(ds, BASE + i * PAGE, BASE + (i + 1) * PAGE), model[i]);
}

int main(void)
{
	struct dirty_store ds;
	struct hva_range batch[64];
	unsigned step, singles = 0, batches = 0;

	test_apply_breakage();
	CHECK_OK(dirty_store_init(&ds));
	for (step = 0; step < 3000; step++) {
		if (test_rand(&rng, 3) == 0) {
			batch[0] = random_range();
			CHECK_OK(dirty_store_note_logged(&ds, batch[0].start, batch[0].end));
			singles++;
		} else {
			size_t k = 1 + test_rand(&rng, 64), i;

			for (i = 0; i < k; i++)
				batch[i] = random_range();
			CHECK_OK(dirty_store_reserve_logged(&ds, k));
			dirty_store_note_logged_many(&ds, batch, k);
			batches++;
		}
		check_record(&ds, step);
		/* Start over now and then, so that the record is sparse again. */
		if (step % 200 == 199) {
			dirty_store_fini(&ds);
			CHECK_OK(dirty_store_init(&ds));
			memset(model, 0, sizeof(model));
		}
	}
	dirty_store_fini(&ds);
	printf("logged ranges: %u single records and %u batches checked against the model\n",
	       singles, batches);
	return 0;
}
