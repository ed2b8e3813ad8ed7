# Compiler flags and common/ source lists, kept in one place: the top
# Makefile includes this file, so do the PGXS Makefiles of server/, and
# t/fuzz/build reads values with `make -s -f flags.mk print-NAME`.

WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter
# The server modules build with pg_config's flags plus these.
PGXSWARN = -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror
PGINC   := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
BSD_CF  := $(shell pkg-config --cflags libbsd-overlay 2>/dev/null || echo -isystem /usr/include/bsd -DLIBBSD_OVERLAY)
DEFS     = -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
LINKLIBS = -lbsd -lzstd
SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SANFLAGS = -O1 -g $(SANITIZE)

# common/NAME.c of the library every program links.
COMMON_SRC = util copytext db linein stream sig json durable crc32c \
	walname walseg walfile walarch walpush urlenc sqlfrag lonpoint pgpipe
# The wal-push code compiled into the skytools_wal module.  Not util.c:
# its xmalloc and friends exit on failure, and the server's process
# must never exit from there.
WALMOD_COMMON = walpush walfile walseg durable crc32c walname
# The parsers the fuzz harnesses (t/fuzz) feed, and what they need.
FUZZ_COMMON = util copytext linein stream urlenc sqlfrag walname walfile crc32c durable

print-%:
	@echo '$($*)'
