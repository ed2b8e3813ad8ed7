/* walfile.h: the format of one archived WAL file, with its checksums.
 *
 * An archived file is the payload (the original bytes, or one zstd frame
 * of them) followed by a 40-byte trailer that is itself a zstd skippable
 * frame, so `zstd -d` still reads a compressed file and `head -c -40`
 * gives back an uncompressed one.  Trailer, little-endian:
 *
 *	 0  u32  0x184D2A5B (zstd skippable frame magic)
 *	 4  u32  32 (frame content size)
 *	 8  4    "SKYW"
 *	12  u32  format version, 1
 *	16  u32  compression: 0 none, 1 zstd
 *	20  u32  CRC-32C of the payload (every byte before the trailer)
 *	24  u64  size of the original file
 *	32  u32  CRC-32C of the original file
 *	36  u32  CRC-32C of trailer bytes 0..35
 *
 * So any flipped byte is found: in the payload by its CRC, in the trailer
 * by the trailer's own CRC, and a truncated file by the size.  Reading
 * always verifies before it reports success. */
#ifndef WALFILE_H
#define WALFILE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define WALFILE_TRAILER 40

enum { WALFILE_NONE = 0, WALFILE_ZSTD = 1 };

struct walfile_info {
	uint32_t comp;
	uint32_t payload_crc;
	uint64_t size;		/* of the original file */
	uint32_t content_crc;
	uint64_t stored;	/* bytes on disk, trailer included */
};

/* Results of walfile_store / walfile_read. */
enum {
	WF_OK = 0,
	WF_IO,		/* read or write failed: errno-style message */
	WF_CORRUPT,	/* the archived file fails its checks */
	WF_DIFFER	/* walfile_read with cmpfd: the content differs */
};

/* Copy everything from in (at its current offset) to out as an archived
 * file, compressing with zstd at level when comp is WALFILE_ZSTD.  On
 * failure msg (size msglen) says what failed. */
MUST_CHECK int walfile_store(int in, int out, uint32_t comp, int level,
    struct walfile_info *info, char *msg, size_t msglen);

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
