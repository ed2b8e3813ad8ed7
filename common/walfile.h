/* Tier: product (libpq, the stream, PgQ, Londiste or WAL; may include any header). */
/* walfile.h: the format of one archived WAL file, with its checksums.
 *
 * An archived file is the payload (the original bytes, or one zstd frame
 * of them) followed by an 80-byte trailer that is itself a zstd skippable
 * frame, so `zstd -d` still reads a compressed file and `head -c -80`
 * gives back an uncompressed one.  Trailer (format 2), little-endian:
 *
 *	 0  u32  0x184D2A5B (zstd skippable frame magic)
 *	 4  u32  72 (frame content size)
 *	 8  4    "SKYW"
 *	12  u32  format version, 2
 *	16  u32  compression: 0 none, 1 zstd
 *	20  u32  CRC-32C of the payload (every byte before the trailer)
 *	24  u64  size of the original file
 *	32  u32  CRC-32C of the original file
 *	36  40   the WAL file name it was archived as, NUL-padded
 *	76  u32  CRC-32C of trailer bytes 0..75
 *
 * So any flipped byte is found: in the payload by its CRC, in the trailer
 * by the trailer's own CRC, and a truncated file by the size; and a file
 * found under another name (a link or a copy in the archive) by the name.
 * Reading always verifies before it reports success.
 *
 * Format 1, written by earlier versions, is still read: the same first
 * 36 bytes with 32 at offset 4 and version 1, then the CRC of bytes 0..35
 * at 36, 40 bytes in all, and no name.  Such a file is checked by its
 * checksums only (walfile_check_name accepts it): rewrite it with
 * wal-fetch | wal-push into a new archive to get names checked. */
#ifndef WALFILE_H
#define WALFILE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define WALFILE_TRAILER 80	/* format 2 */
#define WALFILE_TRAILER_V1 40
#define WALFILE_NAMELEN 40
#define WALFILE_HEAD 64		/* bytes of content kept in walfile_info */

enum { WALFILE_NONE = 0, WALFILE_ZSTD = 1 };

struct walfile_info {
	uint32_t comp;
	uint32_t payload_crc;
	uint64_t size;		/* of the original file */
	uint32_t content_crc;
	uint64_t stored;	/* bytes on disk, trailer included */
	uint32_t trailer;	/* trailer bytes: 80, or 40 for format 1 */
	char name[WALFILE_NAMELEN + 1];	/* "" in format 1 */
	/* The first headlen bytes of the original content, as written or
	 * read: a WAL segment's page header is checked without a second
	 * pass over the file. */
	unsigned char head[WALFILE_HEAD];
	size_t headlen;
};

/* Results of walfile_store / walfile_read. */
enum {
	WF_OK = 0,
	WF_IO,		/* read or write failed: errno-style message */
	WF_CORRUPT,	/* the archived file fails its checks */
	WF_DIFFER	/* walfile_read with cmpfd: the content differs */
};

/* Copy everything from in (at its current offset) to out as an archived
 * file named name (at most 40 bytes), compressing with zstd at level when
 * comp is WALFILE_ZSTD.  More than max bytes is WF_CORRUPT, found when
 * they are read: a source that never ends (a device, a pipe) must not
 * fill the archive.  On failure msg (size msglen) says what failed. */
MUST_CHECK int walfile_store(int in, int out, uint32_t comp, int level,
    uint64_t max, const char *name, struct walfile_info *info, char *msg,
    size_t msglen);

/* rc when the trailer read into info names name (or names nothing:
 * format 1), else WF_CORRUPT with msg saying which name it holds. */
MUST_CHECK int walfile_check_name(const struct walfile_info *info,
    const char *name, int rc, char *msg, size_t msglen);

/* Read the trailer of the archived file open on fd. */
MUST_CHECK int walfile_trailer(int fd, struct walfile_info *info,
    char *msg, size_t msglen);

/* Read and verify the archived file on fd.  With out >= 0 the original
 * bytes are written there; with cmpfd >= 0 they are compared with what
 * cmpfd holds (WF_DIFFER when it differs, also in length).  The file's
 * own checks come first: a damaged file is WF_CORRUPT even when cmpfd is
 * given.  Nothing written to out may be used unless WF_OK comes back. */
MUST_CHECK int walfile_read(int fd, int out, int cmpfd,
    struct walfile_info *info, char *msg, size_t msglen);

/* Format a message into msg (msglen bytes) and return code: these
 * functions report to a caller that decides (the archive module must
 * neither print nor exit). */
int walfile_msg(int code, char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
