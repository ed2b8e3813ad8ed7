/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* walseg.h: is a file the WAL segment its name says?
 *
 * Every WAL segment starts with a long page header (PostgreSQL's
 * XLogLongPageHeaderData, in the server's byte order):
 *
 *	 0  u16  xlp_magic (changes with the server version: not checked)
 *	 2  u16  xlp_info: XLP_LONG_HEADER (0x0002) set
 *	 4  u32  xlp_tli: timeline of the first record on the page
 *	 8  u64  xlp_pageaddr: WAL address of the page (the segment's start)
 *	16  u32  xlp_rem_len
 *	24  u64  xlp_sysid: the cluster's system identifier
 *	32  u32  xlp_seg_size
 *	36  u32  xlp_xlog_blcksz
 *
 * Recovery refuses a segment whose size is wrong, and takes a header that
 * does not fit as the end of the WAL; both are found here, before the
 * file goes into the archive or back to the server.  Only what holds for
 * every server version is checked. */
#ifndef WALSEG_H
#define WALSEG_H

#include <stddef.h>
#include <stdint.h>

#include "walname.h"

#define WALSEG_HDR 40		/* bytes of the long page header */
#define WALSEG_MAX (1ull << 30)	/* the largest segment size */

/* 0 when head (the first len bytes of a file of size bytes, len at most
 * WALSEG_HDR) is the start of the segment w names (w->kind WAL_SEGMENT);
 * else -1 with msg saying what is wrong.  *sysid, when not NULL, gets
 * the system identifier of a segment that passes. */
int walseg_check(const unsigned char *head, size_t len, uint64_t size,
    const struct walname *w, uint64_t *sysid, char *msg, size_t msglen);

#endif
