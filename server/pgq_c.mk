# PGXS build of pgq_c.so, PgQ's hot paths in C (see pgq_c.c).  The
# top-level Makefile runs it in the build tree (`make server`):
#   make -C BUILDDIR -f .../server/pgq_c.mk
# PGXS then finds the sources here through VPATH.
include $(dir $(firstword $(MAKEFILE_LIST)))../flags.mk
MODULES = pgq_c
PG_CFLAGS = $(PGXSWARN) -Wno-sign-compare -Wno-clobbered
PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
