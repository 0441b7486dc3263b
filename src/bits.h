/* SPDX-License-Identifier: MIT */
/*
 * Page bitmaps (bit i = page i, 64-bit words, least significant bit first,
 * as KVM's dirty log has them), walked a word at a time.
 */
#ifndef KVMHOLD_BITS_H
#define KVMHOLD_BITS_H

#include <stdint.h>

#define PAGE_SIZE_4K 4096ull
#define PAGE_SHIFT_4K 12

/* The bits of word w that fall in pages [first, first + n); w overlaps them. */
static inline uint64_t range_mask(uint64_t w, uint64_t first, uint64_t n)
{
	uint64_t lo = w * 64, end = first + n, m = ~0ull;

	if (first > lo)
		m &= ~0ull << (first - lo);
	if (end < lo + 64)
		m &= ~0ull >> (lo + 64 - end);
	return m;
}

/* OR the 64 bits of m into dst at bit index bit (possibly negative: m's low bits are 0 then). */
static inline void or_bits_at(uint64_t *dst, int64_t bit, uint64_t m)
{
	int64_t w = bit >= 0 ? bit / 64 : -((-bit + 63) / 64);
	unsigned sh = (unsigned)(bit - w * 64);

	if (w >= 0 && (m << sh))
		dst[w] |= m << sh;
	if (sh && (m >> (64 - sh)))
		dst[w + 1] |= m >> (64 - sh);
}

#endif
