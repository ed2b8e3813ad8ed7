/* walfile.c: write and verify archived WAL files (see walfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "crc32c.h"
#include "durable.h"
#include "walfile.h"

/* Bytes per read and write.  Small enough that the buffer stays in the
 * CPU's L2 cache between the read that fills it, the checksum and the
 * write that empties it: with 1 MiB both copies and the checksum went
 * to memory and a 16 MiB segment took three times the CPU (measured);
 * large enough that a segment costs only a few hundred system calls. */
#define CHUNK (128u * 1024u)

#define SKIP_MAGIC 0x184D2A5Bu
#define VERSION_1  1u
#define VERSION_2  2u

int
walfile_msg(int code, char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return code;
}

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* Keep what is still missing of the first WALFILE_HEAD content bytes. */
static void
keep_head(struct walfile_info *info, const void *p, size_t n)
{
	size_t k = WALFILE_HEAD - info->headlen;

	if (k > n)
		k = n;
	memcpy(info->head + info->headlen, p, k);
	info->headlen += k;
}

static void
make_trailer(unsigned char *t, const struct walfile_info *info)
{
	memset(t, 0, WALFILE_TRAILER);
	put32(t, SKIP_MAGIC);
	put32(t + 4, WALFILE_TRAILER - 8);
	memcpy(t + 8, "SKYW", 4);
	put32(t + 12, VERSION_2);
	put32(t + 16, info->comp);
	put32(t + 20, info->payload_crc);
	put32(t + 24, (uint32_t)info->size);
	put32(t + 28, (uint32_t)(info->size >> 32));
	put32(t + 32, info->content_crc);
	memcpy(t + 36, info->name, strlen(info->name));
	put32(t + 76, crc32c(0, t, 76));
}

int
walfile_check_name(const struct walfile_info *info, const char *name, int rc,
    char *msg, size_t msglen)
{
	if (info->name[0] == '\0' || strcmp(info->name, name) == 0)
		return rc;
	return walfile_msg(WF_CORRUPT, msg, msglen,
	    "holds %s, not %s (a link or a copy under another name)",
	    info->name, name);
}

int
walfile_store(int in, int out, uint32_t comp, int level, uint64_t max,
    const char *name, struct walfile_info *info, char *msg, size_t msglen)
{
	unsigned char trailer[WALFILE_TRAILER];
	ZSTD_CCtx *cctx = NULL;
	char *buf, *zbuf = NULL;
	size_t zcap = 0;
	int rc = WF_OK;

	memset(info, 0, sizeof(*info));
	info->comp = comp;
	if (strlen(name) > WALFILE_NAMELEN)
		return walfile_msg(WF_IO, msg, msglen, "name too long: %s", name);
	memcpy(info->name, name, strlen(name) + 1);
	(void)posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* malloc, not xmalloc: the archive module runs this in the server,
	 * which must get an error back, never an exit. */
	if ((buf = malloc(CHUNK)) == NULL)
		return walfile_msg(WF_IO, msg, msglen, "out of memory");
	if (comp == WALFILE_ZSTD) {
		zcap = ZSTD_CStreamOutSize();
		zbuf = malloc(zcap);
		cctx = ZSTD_createCCtx();
		if (zbuf == NULL) {
			rc = walfile_msg(WF_IO, msg, msglen, "out of memory");
			goto out;
		}
		if (cctx == NULL ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(cctx,
		    ZSTD_c_compressionLevel, level))) {
			rc = walfile_msg(WF_IO, msg, msglen, "zstd: cannot set up level %d",
			    level);
			goto out;
		}
	}
	for (;;) {
		ssize_t r = read(in, buf, CHUNK);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = walfile_msg(WF_IO, msg, msglen, "read: %s", strerror(errno));
			goto out;
		}
		info->content_crc = crc32c(info->content_crc, buf, (size_t)r);
		keep_head(info, buf, (size_t)r);
		info->size += (uint64_t)r;
		if (info->size > max) {
			rc = walfile_msg(WF_CORRUPT, msg, msglen, "more than %llu "
			    "bytes", (unsigned long long)max);
			goto out;
		}
		if (comp == WALFILE_NONE) {
			if (r == 0)
				break;
			if (write_all(out, buf, (size_t)r) != 0) {
				rc = walfile_msg(WF_IO, msg, msglen, "write: %s",
				    strerror(errno));
				goto out;
			}
			info->stored += (uint64_t)r;
			continue;
		}
		ZSTD_inBuffer zin = { buf, (size_t)r, 0 };
		ZSTD_EndDirective mode = r == 0 ? ZSTD_e_end : ZSTD_e_continue;
		size_t left;

		do {
			ZSTD_outBuffer zout = { zbuf, zcap, 0 };

			left = ZSTD_compressStream2(cctx, &zout, &zin, mode);
			if (ZSTD_isError(left)) {
				rc = walfile_msg(WF_IO, msg, msglen, "zstd: %s",
				    ZSTD_getErrorName(left));
				goto out;
			}
			if (zout.pos > 0 && write_all(out, zbuf, zout.pos) != 0) {
				rc = walfile_msg(WF_IO, msg, msglen, "write: %s",
				    strerror(errno));
				goto out;
			}
			info->payload_crc = crc32c(info->payload_crc, zbuf, zout.pos);
			info->stored += zout.pos;
		} while (mode == ZSTD_e_end ? left != 0 : zin.pos < zin.size);
		if (r == 0)
			break;
	}
	/* Uncompressed, the payload is the content: one checksum pass. */
	if (comp == WALFILE_NONE)
		info->payload_crc = info->content_crc;
	make_trailer(trailer, info);
	if (write_all(out, trailer, sizeof(trailer)) != 0) {
		rc = walfile_msg(WF_IO, msg, msglen, "write: %s", strerror(errno));
		goto out;
	}
	info->stored += sizeof(trailer);
	info->trailer = sizeof(trailer);
out:
	ZSTD_freeCCtx(cctx);
	free(zbuf);
	free(buf);
	return rc;
}

int
walfile_trailer(int fd, struct walfile_info *info, char *msg, size_t msglen)
{
	unsigned char buf[WALFILE_TRAILER], *t;
	struct stat st;
	size_t want;
	ssize_t r;

	memset(info, 0, sizeof(*info));
	if (fstat(fd, &st) != 0)
		return walfile_msg(WF_IO, msg, msglen, "stat: %s", strerror(errno));
	if (st.st_size < WALFILE_TRAILER_V1)
		return walfile_msg(WF_CORRUPT, msg, msglen, "too short (%lld bytes)",
		    (long long)st.st_size);
	want = st.st_size < WALFILE_TRAILER ? WALFILE_TRAILER_V1 : WALFILE_TRAILER;
	for (;;) {
		r = pread(fd, buf, want, st.st_size - (off_t)want);
		if (r >= 0 || errno != EINTR)
			break;
	}
	if (r < 0)
		return walfile_msg(WF_IO, msg, msglen, "read: %s", strerror(errno));
	if ((size_t)r != want)
		return walfile_msg(WF_CORRUPT, msg, msglen, "short read of trailer");
	/* Format 2 first: its last 40 bytes (name and CRC) can never look
	 * like a format 1 trailer, whose magic holds a byte (0x18) no WAL
	 * file name has. */
	t = buf;
	if (want == WALFILE_TRAILER && get32(t) == SKIP_MAGIC &&
	    get32(t + 4) == WALFILE_TRAILER - 8 && memcmp(t + 8, "SKYW", 4) == 0) {
		if (get32(t + 76) != crc32c(0, t, 76))
			return walfile_msg(WF_CORRUPT, msg, msglen,
			    "trailer checksum mismatch");
		if (get32(t + 12) != VERSION_2)
			return walfile_msg(WF_CORRUPT, msg, msglen,
			    "unknown format version %u", (unsigned)get32(t + 12));
		memcpy(info->name, t + 36, WALFILE_NAMELEN);
		info->name[WALFILE_NAMELEN] = '\0';
		info->trailer = WALFILE_TRAILER;
	} else {
		t = buf + want - WALFILE_TRAILER_V1;
		if (get32(t) != SKIP_MAGIC ||
		    get32(t + 4) != WALFILE_TRAILER_V1 - 8 ||
		    memcmp(t + 8, "SKYW", 4) != 0)
			return walfile_msg(WF_CORRUPT, msg, msglen,
			    "no wal-push trailer (not written by wal-push, or damaged)");
		if (get32(t + 36) != crc32c(0, t, 36))
			return walfile_msg(WF_CORRUPT, msg, msglen,
			    "trailer checksum mismatch");
		if (get32(t + 12) != VERSION_1)
			return walfile_msg(WF_CORRUPT, msg, msglen,
			    "unknown format version %u", (unsigned)get32(t + 12));
		info->trailer = WALFILE_TRAILER_V1;
	}
	info->comp = get32(t + 16);
	info->payload_crc = get32(t + 20);
	info->size = (uint64_t)get32(t + 24) | (uint64_t)get32(t + 28) << 32;
	info->content_crc = get32(t + 32);
	info->stored = (uint64_t)st.st_size;
	if (info->comp != WALFILE_NONE && info->comp != WALFILE_ZSTD)
		return walfile_msg(WF_CORRUPT, msg, msglen, "unknown compression %u",
		    (unsigned)info->comp);
	if (info->comp == WALFILE_NONE &&
	    info->size != info->stored - info->trailer)
		return walfile_msg(WF_CORRUPT, msg, msglen,
		    "size %llu does not match the trailer's %llu",
		    (unsigned long long)(info->stored - info->trailer),
		    (unsigned long long)info->size);
	return WF_OK;
}

/* Hand n bytes of original content to the sink and the comparison. */
static int
content(const char *p, size_t n, int out, int cmpfd, char *cbuf, int *differ,
    struct walfile_info *info, char *msg, size_t msglen)
{
	keep_head(info, p, n);
	if (out >= 0 && write_all(out, p, n) != 0)
		return walfile_msg(WF_IO, msg, msglen, "write: %s", strerror(errno));
	if (cmpfd >= 0 && !*differ) {
		ssize_t r = read_full(cmpfd, cbuf, n);

		if (r < 0)
			return walfile_msg(WF_IO, msg, msglen, "read: %s", strerror(errno));
		if ((size_t)r != n || memcmp(p, cbuf, n) != 0)
			*differ = 1;
	}
	return WF_OK;
}

int
walfile_read(int fd, int out, int cmpfd, struct walfile_info *info,
    char *msg, size_t msglen)
{
	ZSTD_DCtx *dctx = NULL;
	char *buf, *zbuf = NULL, *cbuf = NULL;
	uint64_t left, total = 0;
	uint32_t pcrc = 0, ccrc = 0;
	size_t zcap = 0, zret = 1;
	off_t off = 0;
	int rc, differ = 0;

	rc = walfile_trailer(fd, info, msg, msglen);
	if (rc != WF_OK)
		return rc;
	if ((buf = malloc(CHUNK)) == NULL)
		return walfile_msg(WF_IO, msg, msglen, "out of memory");
	if (cmpfd >= 0 && (cbuf = malloc(info->comp == WALFILE_ZSTD ?
	    ZSTD_DStreamOutSize() : CHUNK)) == NULL) {
		rc = walfile_msg(WF_IO, msg, msglen, "out of memory");
		goto out;
	}
	if (info->comp == WALFILE_ZSTD) {
		zcap = ZSTD_DStreamOutSize();
		if ((zbuf = malloc(zcap)) == NULL) {
			rc = walfile_msg(WF_IO, msg, msglen, "out of memory");
			goto out;
		}
		if ((dctx = ZSTD_createDCtx()) == NULL) {
			rc = walfile_msg(WF_IO, msg, msglen, "zstd: out of memory");
			goto out;
		}
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (left = info->stored - info->trailer; left > 0;) {
		size_t want = left < CHUNK ? (size_t)left : CHUNK;
		ssize_t r = pread(fd, buf, want, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = walfile_msg(WF_IO, msg, msglen, "read: %s", strerror(errno));
			goto out;
		}
		if (r == 0) {
			rc = walfile_msg(WF_CORRUPT, msg, msglen, "file shrank while read");
			goto out;
		}
		off += r;
		left -= (uint64_t)r;
		pcrc = crc32c(pcrc, buf, (size_t)r);
		if (info->comp == WALFILE_NONE) {
			/* The payload is the content: ccrc is set from pcrc
			 * at the end. */
			total += (uint64_t)r;
			rc = content(buf, (size_t)r, out, cmpfd, cbuf, &differ,
			    info, msg, msglen);
			if (rc != WF_OK)
				goto out;
			continue;
		}
		ZSTD_inBuffer zin = { buf, (size_t)r, 0 };

		while (zin.pos < zin.size) {
			ZSTD_outBuffer zout = { zbuf, zcap, 0 };

			if (zret == 0) {
				rc = walfile_msg(WF_CORRUPT, msg, msglen,
				    "data after the end of the zstd frame");
				goto out;
			}
			zret = ZSTD_decompressStream(dctx, &zout, &zin);
			if (ZSTD_isError(zret)) {
				rc = walfile_msg(WF_CORRUPT, msg, msglen, "zstd: %s",
				    ZSTD_getErrorName(zret));
				goto out;
			}
			ccrc = crc32c(ccrc, zbuf, zout.pos);
			total += zout.pos;
			if (total > info->size) {
				rc = walfile_msg(WF_CORRUPT, msg, msglen,
				    "decompresses to more than %llu bytes",
				    (unsigned long long)info->size);
				goto out;
			}
			rc = content(zbuf, zout.pos, out, cmpfd, cbuf, &differ,
			    info, msg, msglen);
			if (rc != WF_OK)
				goto out;
		}
	}
	if (info->comp == WALFILE_NONE)
		ccrc = pcrc;
	if (pcrc != info->payload_crc) {
		rc = walfile_msg(WF_CORRUPT, msg, msglen, "checksum mismatch");
		goto out;
	}
	if (info->comp == WALFILE_ZSTD && zret != 0) {
		rc = walfile_msg(WF_CORRUPT, msg, msglen, "zstd frame is incomplete");
		goto out;
	}
	if (total != info->size || ccrc != info->content_crc) {
		rc = walfile_msg(WF_CORRUPT, msg, msglen,
		    "content checksum or size mismatch");
		goto out;
	}
	if (cmpfd >= 0 && !differ) {
		char c;
		ssize_t r = read_full(cmpfd, &c, 1);

		if (r < 0) {
			rc = walfile_msg(WF_IO, msg, msglen, "read: %s", strerror(errno));
			goto out;
		}
		differ = r != 0;
	}
	rc = differ ? walfile_msg(WF_DIFFER, msg, msglen, "content differs") : WF_OK;
out:
	ZSTD_freeDCtx(dctx);
	free(zbuf);
	free(cbuf);
	free(buf);
	return rc;
}
