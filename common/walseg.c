/* walseg.c: check the long page header of a WAL segment (see walseg.h). */
#include <stdio.h>

#include "walseg.h"

#define XLP_LONG_HEADER 0x0002u

/* Read n bytes at p as an unsigned number in the given byte order. */
static uint64_t
get(const unsigned char *p, int n, int big)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
	return v;
}

static int
blcksz_ok(uint64_t b)
{
	return b >= 1024 && b <= 65536 && (b & (b - 1)) == 0;
}

int
walseg_check(const unsigned char *head, size_t len, uint64_t size,
    const struct walname *w, uint64_t *sysid, char *msg, size_t msglen)
{
	uint64_t segsz, addr, want;
	uint32_t tli;
	int big = 0;

	if (!wal_segsize_ok(size)) {
		snprintf(msg, msglen, "%llu bytes: not a WAL segment (its size "
		    "is a power of 2 from 1 MiB to 1 GiB)",
		    (unsigned long long)size);
		return -1;
	}
	/* A name's segment part counts the segments of one 4 GiB stretch
	 * of WAL: one beyond them names no segment of this size, and would
	 * pass for a later one here (0/1FFF of 1 MiB is the address of
	 * 1/FFF). */
	if (w->seg >= 0x100000000ull / size) {
		snprintf(msg, msglen, "the name's segment number %X is beyond "
		    "the last one (%llX) of a %llu-byte segment", (unsigned)w->seg,
		    (unsigned long long)(0x100000000ull / size - 1),
		    (unsigned long long)size);
		return -1;
	}
	if (len < WALSEG_HDR) {
		snprintf(msg, msglen, "only %zu bytes of header read", len);
		return -1;
	}
	/* The server writes its own byte order, and the archive may sit on
	 * a machine of the other one (a push over ssh): the byte order is
	 * the one in which the header's segment size is a valid one. */
	if (!wal_segsize_ok(get(head + 32, 4, 0)) &&
	    wal_segsize_ok(get(head + 32, 4, 1)))
		big = 1;
	if ((get(head + 2, 2, big) & XLP_LONG_HEADER) == 0) {
		snprintf(msg, msglen, "no WAL long page header at the start "
		    "(not a WAL segment, or its first page is damaged)");
		return -1;
	}
	segsz = get(head + 32, 4, big);
	if (segsz != size) {
		snprintf(msg, msglen, "%llu bytes, but its header says a "
		    "segment has %llu", (unsigned long long)size,
		    (unsigned long long)segsz);
		return -1;
	}
	if (!blcksz_ok(get(head + 36, 4, big))) {
		snprintf(msg, msglen, "header's WAL block size %llu is not a "
		    "power of 2 from 1 kB to 64 kB",
		    (unsigned long long)get(head + 36, 4, big));
		return -1;
	}
	addr = get(head + 8, 8, big);
	want = walname_segno(w, size) * size;
	if (addr != want) {
		char other[WALNAME_LEN + 1];

		if (addr % size == 0)
			walname_format(other, (uint32_t)get(head + 4, 4, big),
			    addr / size, size);
		else
			snprintf(other, sizeof(other), "not a segment start");
		snprintf(msg, msglen, "header is of WAL address %X/%X (%s), "
		    "not %X/%X where this name's segment starts",
		    (unsigned)(addr >> 32), (unsigned)addr, other,
		    (unsigned)(want >> 32), (unsigned)want);
		return -1;
	}
	/* The first segment of a new timeline starts as a copy of the old
	 * timeline's last one, page headers included: its first page may
	 * carry a parent timeline, never a later one. */
	tli = (uint32_t)get(head + 4, 4, big);
	if (tli == 0 || tli > w->tli) {
		snprintf(msg, msglen, "header's timeline %u does not fit "
		    "the name's timeline %u", (unsigned)tli, (unsigned)w->tli);
		return -1;
	}
	if (sysid != NULL)
		*sysid = get(head + 24, 8, big);
	return 0;
}
