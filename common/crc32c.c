/* crc32c.c: CRC-32C, hardware when available, slicing-by-8 otherwise.
 *
 * wal-push checksums every byte it archives, so the checksum must run far
 * faster than the disk.  The SSE4.2 crc32 instruction takes 8 bytes per
 * step but waits for the previous step's result (about 3 cycles), so a
 * long buffer is cut into three lanes checksummed side by side and the
 * lanes are joined afterwards (a CRC is linear: the CRC of A followed by
 * B is the CRC of A shifted over |B| zero bytes, xor the CRC of B from
 * zero).  The table fallback keeps other CPUs correct. */
#include <string.h>

#include "crc32c.h"

#define POLY 0x82f63b78u	/* Castagnoli, reflected */

/* Bytes per lane: long enough that joining (8 table look-ups) is noise
 * against the lane's 1,000 steps, short enough for small buffers. */
#define LANE 8192

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

/* a * b modulo the polynomial, both in the reflected bit order of the CRC
 * register (bit 31 is x^0). */
static uint32_t
mulmod(uint32_t a, uint32_t b)
{
	uint32_t p = 0;

	for (uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
		if (a & bit)
			p ^= b;
		b = (b >> 1) ^ (POLY & (0u - (b & 1)));
	}
	return p;
}

/* x^(8 * n) modulo the polynomial: what n zero bytes do to a register. */
static uint32_t
xpow8n(uint64_t n)
{
	uint32_t r = 1u << 31, base = 1u << 30;	/* x^0, x^1 */

	for (uint64_t e = 8 * n; e != 0; e >>= 1) {
		if (e & 1)
			r = mulmod(r, base);
		base = mulmod(base, base);
	}
	return r;
}

/* shift[0] moves a register over LANE zero bytes, shift[1] over 2 LANE:
 * one table per byte of the register. */
static uint32_t shift[2][4][256];
static int shift_ready;

static void
make_shift(void)
{
	for (int s = 0; s < 2; s++) {
		uint32_t k = xpow8n((uint64_t)LANE * (uint64_t)(s + 1));

		/* The shift is linear: each entry is the xor of the entries
		 * of its lowest set bit and of the rest. */
		for (int b = 0; b < 4; b++) {
			uint32_t *t = shift[s][b];

			t[0] = 0;
			for (uint32_t v = 1; v < 256; v++) {
				uint32_t low = v & (0u - v);

				t[v] = v == low ? mulmod(v << (8 * b), k) :
				    t[low] ^ t[v ^ low];
			}
		}
	}
	shift_ready = 1;
}

static uint32_t
apply_shift(int s, uint32_t c)
{
	return shift[s][0][c & 0xff] ^ shift[s][1][(c >> 8) & 0xff] ^
	    shift[s][2][(c >> 16) & 0xff] ^ shift[s][3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t
crc_hw(uint32_t c, const unsigned char *p, size_t n)
{
	uint64_t c64 = c;

	while (n > 0 && ((uintptr_t)p & 7) != 0) {
		c64 = __builtin_ia32_crc32qi((uint32_t)c64, *p++);
		n--;
	}
	if (n >= 3 * LANE && !shift_ready)
		make_shift();
	while (n >= 3 * LANE) {
		uint64_t a = c64, b = 0, d = 0;

		for (size_t i = 0; i < LANE; i += 8) {
			uint64_t va, vb, vd;

			memcpy(&va, p + i, 8);
			memcpy(&vb, p + LANE + i, 8);
			memcpy(&vd, p + 2 * LANE + i, 8);
			a = __builtin_ia32_crc32di(a, va);
			b = __builtin_ia32_crc32di(b, vb);
			d = __builtin_ia32_crc32di(d, vd);
		}
		c64 = apply_shift(1, (uint32_t)a) ^ apply_shift(0, (uint32_t)b) ^
		    (uint32_t)d;
		p += 3 * LANE;
		n -= 3 * LANE;
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
