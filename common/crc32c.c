/* crc32c.c: CRC-32C, hardware when available, slicing-by-8 otherwise.
 *
 * wal-push checksums every byte it archives, so the checksum must run far
 * faster than the disk: the SSE4.2 crc32 instruction does 8 bytes per
 * step; the table fallback keeps other CPUs correct. */
#include <string.h>

#include "crc32c.h"

#define POLY 0x82f63b78u	/* Castagnoli, reflected */

static uint32_t table[8][256];
static int table_ready;

static void
make_table(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (POLY & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^
			    table[0][table[t - 1][i] & 0xff];
	table_ready = 1;
}

static uint32_t
crc_soft(uint32_t c, const unsigned char *p, size_t n)
{
	if (!table_ready)
		make_table();
	while (n >= 8) {
		uint32_t lo, hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		lo = __builtin_bswap32(lo);
		hi = __builtin_bswap32(hi);
#endif
		lo ^= c;
		c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		    table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
		    table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
		    table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_HW 1
__attribute__((target("sse4.2")))
static uint32_t
crc_hw(uint32_t c, const unsigned char *p, size_t n)
{
	uint64_t c64 = c;

	while (n > 0 && ((uintptr_t)p & 7) != 0) {
		c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
		n--;
	}
	while (n >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
		p += 8;
		n -= 8;
	}
	while (n--)
		c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
	return (uint32_t)c64;
}
#endif

uint32_t
crc32c(uint32_t crc, const void *p, size_t n)
{
	uint32_t c = ~crc;

#ifdef HAVE_HW
	static int hw = -1;

	if (hw < 0) {
		__builtin_cpu_init();
		hw = __builtin_cpu_supports("sse4.2") != 0;
	}
	if (hw)
		return ~crc_hw(c, p, n);
#endif
	return ~crc_soft(c, p, n);
}
