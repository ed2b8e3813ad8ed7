# Skytools in C: one plain Makefile, explicit lists, one pattern rule.
#
#   make            build programs into build/bin, SQL into build/sql
#   make check      make lint, then build with ASan+UBSan into build/san
#                   and run t/*.bats
#   make demo       run the main job on a throwaway local cluster
#   make bench      benchmarks against the reference systems (t/bench)
#   make lint       mandoc -Tlint on the man pages, shellcheck on sh/ and
#                   the test and bench scripts
#   make install    everything into PREFIX (DESTDIR, MANDIR, SYSTEMDUNITDIR:
#                   the systemd units, default PREFIX/lib/systemd/system)
#   make install-pg the extensions and C modules into the server's own
#                   directories (pg_config); never over another Debian
#                   package's file unless FORCE=1
#   make install-pg-modules  only the C modules (pg_config --pkglibdir),
#                   e.g. beside a distribution's pgq extension

VERSION = 0.1.0
# Earlier versions of the pgq and pgq_coop extensions that
# ALTER EXTENSION ... UPDATE can start from (sql/build-ext).
EXT_UPDATE_FROM = 0.1.0

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/skytools-c
LIBDIR  ?= $(PREFIX)/lib/skytools-c
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

# Output directory; `make check` builds a second, sanitized tree.
O ?= build

include flags.mk

CC      ?= cc
CFLAGS  ?= -O2 -g
CPPFLAGS += $(DEFS) -DVERSION='"$(VERSION)"' -Icommon -I$(PGINC) $(BSD_CF)
LDLIBS  += -lpq $(LINKLIBS)

# Programs: cmd/NAME.c builds $(O)/bin/NAME.
BIN = \
	pgq-tick \
	pgq-create-queue \
	pgq-drop-queue \
	pgq-config \
	pgq-register \
	pgq-unregister \
	pgq-insert \
	pgq-next-batch \
	pgq-events \
	pgq-finish-batch \
	pgq-retry \
	pgq-status \
	qadmin \
	wal-push \
	wal-fetch \
	wal-list \
	wal-check \
	wal-prune \
	londiste-apply \
	londiste-copy \
	londiste-compare \
	londiste-repair

# Porcelain: POSIX sh, installed as is.
SH = pgqadm pgq-consumer walmgr londiste

# systemd units (templates), with @BINDIR@ filled in by make install.
UNITS = pgq-ticker@.service londiste@.service pgq-consumer@.service

# The shared library every program links (COMMON_SRC in flags.mk).
COMMON = $(COMMON_SRC:%=common/%.o)

# SQL: each schema is the concatenation of its numbered parts.
SQL = pgq pgq_coop pgq_node pgq_ext londiste

HDR       = $(wildcard common/*.h)
PROGS     = $(BIN:%=$(O)/bin/%)
COMMONOBJ = $(COMMON:%=$(O)/%)
SQLOUT    = $(SQL:%=$(O)/sql/%.sql)

all: $(PROGS) $(SQLOUT)

$(O)/common/%.o: common/%.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/libcommon.a: $(COMMONOBJ)
	rm -f $@
	ar rcs $@ $(COMMONOBJ)

$(O)/bin/%: cmd/%.c $(O)/libcommon.a $(HDR)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(O)/libcommon.a $(LDLIBS)

$(O)/sql/%.sql: sql/%/*.sql sql/build-sql
	@mkdir -p $(@D)
	sql/build-sql $* sql/$*/[0-9]*.sql > $@.tmp && mv $@.tmp $@

# lint runs after check-deps, which installs mandoc and shellcheck.
check:
	t/check-deps check
	$(MAKE) lint
	$(MAKE) O=build/san CFLAGS="$(SANFLAGS)" LDFLAGS="$(SANFLAGS)" all
	SKYTOOLS_BUILD=$(CURDIR)/build/san t/run-tests $(TESTS)

demo:
	t/check-deps demo
	$(MAKE) all
	t/demo/run $(O)

bench: all
	BENCH_COMMAND='make bench$(if $(QUICK), QUICK=1)' t/bench/run $(if $(QUICK),--quick)

lint:
	mandoc -Tlint -W warning man/man1/*.1 man/man5/*.5
	shellcheck -s sh -x $(SH:%=sh/%) sh/skytools-sh.lib sh/londiste-cascade.lib sh/londiste-failover.lib server/install-pg t/run-tests t/check-deps t/demo/* t/fuzz/run t/fuzz/build .ci/run \
	    t/bench/run t/bench/report t/bench/*.sh

install: all $(O)/ext/.built
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	         $(DESTDIR)$(DATADIR)/sql $(DESTDIR)$(DATADIR)/extension
	install -m 755 $(PROGS) $(DESTDIR)$(BINDIR)/
	for s in $(SH); do \
	    sed 's|^SKYTOOLS_DATADIR=.*|SKYTOOLS_DATADIR=$(DATADIR)|' sh/$$s \
	        > $(DESTDIR)$(BINDIR)/$$s && chmod 755 $(DESTDIR)$(BINDIR)/$$s || exit 1; done
	install -m 644 sh/skytools-sh.lib sh/londiste-cascade.lib sh/londiste-failover.lib $(DESTDIR)$(DATADIR)/
	install -m 644 $(SQLOUT) $(DESTDIR)$(DATADIR)/sql/
	install -m 644 $(O)/ext/*.control $(O)/ext/*.sql $(DESTDIR)$(DATADIR)/extension/
	install -m 644 man/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/man5/*.5 $(DESTDIR)$(MANDIR)/man5/
	mkdir -p $(DESTDIR)$(SYSTEMDUNITDIR)
	for u in $(UNITS); do \
	    sed 's|@BINDIR@|$(BINDIR)|g' sh/systemd/$$u > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u && \
	    chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; done

# The extension files (NAME.control, NAME--VERSION.sql) of each schema.
$(O)/ext/.built: $(SQLOUT) sql/build-ext
	rm -rf $(O)/ext
	for s in $(SQL); do sql/build-ext $$s $(O)/sql/$$s.sql $(VERSION) $(O)/ext $(EXT_UPDATE_FROM) || exit 1; done
	touch $@

# Long fault runs (issue 7); `make check` runs the short versions.
fuzz:
	t/fuzz/run $(O)/fuzz

chaos:
	$(MAKE) O=build/san CFLAGS="$(SANFLAGS)" LDFLAGS="$(SANFLAGS)" all
	SKYTOOLS_BUILD=$(CURDIR)/build/san t/chaos/run $(ROUNDS)

clean:
	rm -rf build

.PHONY: all check demo bench lint install install-pg clean fuzz chaos
.SUFFIXES:

# ---- Server-side C (issue 8) ----------------------------------------
# PGXS modules loaded into PostgreSQL: pgq_c (PgQ's insert and triggers)
# and skytools_wal (an archive_library sharing wal-push's code).  Built
# only where pg_config and the server headers exist, always with
# pg_config's flags (never the sanitizer's: the server loads them), by
# each module's own small PGXS makefile (server/pgq_c.mk,
# server/Makefile) run in the build tree.
PG_CONFIG ?= pg_config
PGSERVERINC := $(shell $(PG_CONFIG) --includedir-server 2>/dev/null)
ifneq ($(wildcard $(PGSERVERINC)/postgres.h),)
MODULES = pgq_c skytools_wal
endif
MODULELIBS = $(MODULES:%=$(O)/server/%.so)
PGXSMAKE = MAKEFLAGS= $(MAKE) --no-print-directory with_llvm=no PG_CONFIG=$(PG_CONFIG)
WALMOD_SRC = server/skytools_wal.c $(WALMOD_COMMON:%=common/%.c)

all: server
install: install-modules

server: $(MODULELIBS)

$(O)/server/pgq_c.so: server/pgq_c.c server/pgq_c.mk flags.mk
	@mkdir -p $(O)/server/pgq_c
	$(PGXSMAKE) -C $(O)/server/pgq_c -f $(CURDIR)/server/pgq_c.mk
	cp $(O)/server/pgq_c/pgq_c.so $@

$(O)/server/skytools_wal.so: $(WALMOD_SRC) server/Makefile flags.mk $(HDR)
	@mkdir -p $(O)/server/skytools_wal
	$(PGXSMAKE) -C $(O)/server/skytools_wal -f $(CURDIR)/server/Makefile VERSION=$(VERSION)
	cp $(O)/server/skytools_wal/skytools_wal.so $@

# Inside PREFIX, like everything `make install` writes; install-pg puts
# them where the server loads them.
install-modules: $(MODULELIBS)
	@if [ -n "$(MODULES)" ]; then \
	    mkdir -p $(DESTDIR)$(LIBDIR) && install -m 755 $(MODULELIBS) $(DESTDIR)$(LIBDIR)/; \
	else echo "no PostgreSQL server headers: C modules not built"; fi

# Into the server's directories, each file checked before any is written.
install-pg: $(O)/ext/.built $(MODULELIBS)
	@command -v $(PG_CONFIG) >/dev/null || { echo "install-pg: $(PG_CONFIG) not found" >&2; exit 2; }
	@[ -n "$(MODULES)" ] || echo "install-pg: no PostgreSQL server headers: C modules not built"
	server/install-pg $(if $(FORCE),--force) \
	    "$(DESTDIR)" "$$($(PG_CONFIG) --sharedir)/extension" $(O)/ext/*.control $(O)/ext/*.sql -- \
	    "$$($(PG_CONFIG) --pkglibdir)" $(MODULELIBS)

# Only the C modules into pg_config --pkglibdir (skytools_wal for
# walmgr setup --library, pgq_c): no extension file, so nothing that a
# distribution's pgq package owns is in the way.
install-pg-modules: $(MODULELIBS)
	@command -v $(PG_CONFIG) >/dev/null || { echo "install-pg-modules: $(PG_CONFIG) not found" >&2; exit 2; }
	@[ -n "$(MODULES)" ] || { echo "install-pg-modules: no PostgreSQL server headers: C modules not built" >&2; exit 2; }
	server/install-pg $(if $(FORCE),--force) \
	    "$(DESTDIR)" "$$($(PG_CONFIG) --pkglibdir)" $(MODULELIBS)

.PHONY: server install-modules install-pg-modules
