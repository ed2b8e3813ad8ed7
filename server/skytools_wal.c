/* skytools_wal.c: an archive_library that archives as wal-push does.
 *
 * PostgreSQL 15+ can archive through a loaded module instead of starting
 * archive_command once per segment.  This one calls walpush() (common/),
 * the code wal-push runs, compiled into the module together with the
 * archive format (walfile.c), the durable writes (durable.c) and the
 * checksums (crc32c.c): archived files, their names, the refusal to
 * replace other content and the crash guarantees are the same.
 *
 *	archive_library = 'skytools_wal'
 *	skytools_wal.archive = '/path/to/archive'	(wal-push -A)
 *	skytools_wal.compress = 'none' | 'zstd'		(--compress)
 *	skytools_wal.level = 1..19			(--level)
 *
 * A failed push returns false with a WARNING: the archiver keeps the
 * segment and retries, as it does when archive_command exits non-zero.
 * Nothing here raises an ERROR (PostgreSQL 15's archiver has no error
 * recovery around the callback) and the shared code uses malloc, not
 * palloc, and closes every descriptor it opens. */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"
#if PG_VERSION_NUM >= 160000
#include "archive/archive_module.h"
#else
#include "postmaster/pgarch.h"
#endif

#include "exitcodes.h"
#include "walfile.h"
#include "walpush.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);

static char *archive_dir;
static int compress = WALFILE_NONE;
static int level = 1;

static const struct config_enum_entry compress_options[] = {
	{ "none", WALFILE_NONE, false },
	{ "zstd", WALFILE_ZSTD, false },
	{ NULL, 0, false }
};

void
_PG_init(void)
{
	DefineCustomStringVariable("skytools_wal.archive",
	    "Archive directory: WAL files go to its wal/ subdirectory.",
	    NULL, &archive_dir, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("skytools_wal.compress",
	    "Compression of archived WAL files: none or zstd.",
	    NULL, &compress, WALFILE_NONE, compress_options, PGC_SIGHUP, 0,
	    NULL, NULL, NULL);
	DefineCustomIntVariable("skytools_wal.level",
	    "zstd compression level.",
	    NULL, &level, 1, 1, 19, PGC_SIGHUP, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("skytools_wal");
}

static bool
configured(void)
{
	return archive_dir != NULL && archive_dir[0] != '\0';
}

static bool
archive_file(const char *file, const char *path)
{
	char msg[1024];
	int rc;

	rc = walpush(archive_dir, path, file, (uint32_t)compress, level, msg,
	    sizeof(msg));
	if (rc == EXIT_DONE) {
		if (msg[0] != '\0')
			ereport(LOG, (errmsg("skytools_wal: %s", msg)));
		return true;
	}
	ereport(WARNING,
	    (rc == EXIT_REFUSE ? errcode(ERRCODE_DATA_CORRUPTED) :
	    errcode(ERRCODE_IO_ERROR),
	    errmsg("skytools_wal: %s", msg)));
	return false;
}

#if PG_VERSION_NUM >= 160000
static bool
check_configured16(ArchiveModuleState *state)
{
	return configured();
}

static bool
archive_file16(ArchiveModuleState *state, const char *file, const char *path)
{
	return archive_file(file, path);
}

static const ArchiveModuleCallbacks callbacks = {
	.check_configured_cb = check_configured16,
	.archive_file_cb = archive_file16,
};

const ArchiveModuleCallbacks *
_PG_archive_module_init(void)
{
	return &callbacks;
}
#else
/* PostgreSQL 15's pgarch.h has only the type of this symbol. */
extern PGDLLEXPORT void _PG_archive_module_init(ArchiveModuleCallbacks *cb);

void
_PG_archive_module_init(ArchiveModuleCallbacks *cb)
{
	cb->check_configured_cb = configured;
	cb->archive_file_cb = archive_file;
}
#endif
