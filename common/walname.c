/* walname.c: WAL file names and segment arithmetic. */
#include <stdio.h>
#include <string.h>

#include "walname.h"

static int
hex8(const char *s, uint32_t *v)
{
	uint32_t r = 0;

	for (int i = 0; i < 8; i++) {
		char c = s[i];

		r <<= 4;
		if (c >= '0' && c <= '9')
			r |= (uint32_t)(c - '0');
		else if (c >= 'A' && c <= 'F')
			r |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*v = r;
	return 0;
}

enum walkind
walname_parse(const char *name, struct walname *w)
{
	size_t n = strlen(name);

	memset(w, 0, sizeof(*w));
	if (n == 16 && strcmp(name + 8, ".history") == 0) {
		if (hex8(name, &w->tli) != 0 || w->tli == 0)
			return WAL_OTHER;
		return w->kind = WAL_HISTORY;
	}
	if (n < WALNAME_LEN || hex8(name, &w->tli) != 0 ||
	    hex8(name + 8, &w->log) != 0 || hex8(name + 16, &w->seg) != 0 ||
	    w->tli == 0)
		return WAL_OTHER;
	if (n == WALNAME_LEN)
		return w->kind = WAL_SEGMENT;
	if (strcmp(name + WALNAME_LEN, ".partial") == 0)
		return w->kind = WAL_PARTIAL;
	if (n == WALNAME_LEN + 16 && name[WALNAME_LEN] == '.' &&
	    hex8(name + WALNAME_LEN + 1, &w->offset) == 0 &&
	    strcmp(name + WALNAME_LEN + 9, ".backup") == 0)
		return w->kind = WAL_BACKUP;
	return WAL_OTHER;
}

const char *
walkind_str(enum walkind k)
{
	switch (k) {
	case WAL_SEGMENT:	return "segment";
	case WAL_PARTIAL:	return "partial";
	case WAL_HISTORY:	return "history";
	case WAL_BACKUP:	return "backup";
	default:		return "other";
	}
}

int
wal_segsize_ok(uint64_t segsize)
{
	return segsize >= (1u << 20) && segsize <= (1u << 30) &&
	    (segsize & (segsize - 1)) == 0;
}

uint64_t
walname_segno(const struct walname *w, uint64_t segsize)
{
	return (uint64_t)w->log * (0x100000000ull / segsize) + w->seg;
}

void
walname_format(char *out, uint32_t tli, uint64_t segno, uint64_t segsize)
{
	uint64_t per = 0x100000000ull / segsize;

	snprintf(out, WALNAME_LEN + 1, "%08X%08X%08X", (unsigned)tli,
	    (unsigned)(segno / per), (unsigned)(segno % per));
}

int
lsn_parse(const char *s, uint64_t *lsn)
{
	unsigned int hi, lo;
	int n = 0;

	if (sscanf(s, "%8X/%8X%n", &hi, &lo, &n) != 2 || s[n] != '\0')
		return -1;
	*lsn = ((uint64_t)hi << 32) | lo;
	return 0;
}
