/* pgpipe.c: libpq pipeline mode with a window of checked statements. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "pgpipe.h"

void
pgpipe_init(struct pgpipe *p, PGconn *conn, int window, size_t size)
{
	memset(p, 0, sizeof(*p));
	p->conn = conn;
	p->window = window;
	p->size = size ? size : 1;
	p->slot = xmalloc((size_t)window * sizeof(*p->slot));
	p->payload = xmalloc((size_t)window * p->size);
}

void
pgpipe_free(struct pgpipe *p)
{
	free(p->slot);
	free(p->payload);
	buf_free(&p->err);
	memset(p, 0, sizeof(*p));
}

const char *
pgpipe_on(struct pgpipe *p)
{
	if (p->on)
		return NULL;
	if (PQenterPipelineMode(p->conn) != 1) {
		buf_reset(&p->err);
		buf_printf(&p->err, "cannot enter pipeline mode: %s", db_errmsg(p->conn));
		return p->err.data;
	}
	p->on = true;
	return NULL;
}

/* One result: the slot's check judges it, then it is kept or cleared. */
static void
judge(struct pgpipe *p, int idx, PGresult *res)
{
	ExecStatusType s = PQresultStatus(res);
	struct pgpipe_slot *sl = idx < p->n ? &p->slot[idx] : NULL;

	if (p->err.len == 0) {
		if (sl != NULL && sl->check != NULL)
			sl->check(&p->err, res, p->payload + (size_t)idx * p->size);
		else if (sl != NULL && s == PGRES_FATAL_ERROR)
			buf_printf(&p->err, "%s", db_resmsg(res));
		else if (sl == NULL && s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
			buf_printf(&p->err, "%s", db_resmsg(res));
		if (p->err.len == 0 && sl != NULL && sl->keep != NULL) {
			*sl->keep = res;
			return;
		}
	}
	PQclear(res);
}

const char *
pgpipe_sync(struct pgpipe *p)
{
	int idx = 0, nulls = 0;

	buf_reset(&p->err);
	if (!p->on)
		return NULL;
	if (PQpipelineSync(p->conn) != 1) {
		buf_printf(&p->err, "pipeline sync: %s", db_errmsg(p->conn));
		return p->err.data;
	}
	for (;;) {
		PGresult *res = PQgetResult(p->conn);

		if (res == NULL) {
			/* One NULL ends each statement's results. */
			if (++nulls > p->n + 2) {
				buf_reset(&p->err);
				buf_printf(&p->err, "lost connection: %s", db_errmsg(p->conn));
				return p->err.data;
			}
			idx++;
			continue;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		judge(p, idx, res);
	}
	p->n = 0;
	return p->err.len > 0 ? p->err.data : NULL;
}

const char *
pgpipe_off(struct pgpipe *p)
{
	const char *e;

	if (!p->on)
		return NULL;
	if ((e = pgpipe_sync(p)) != NULL)
		return e;
	if (PQexitPipelineMode(p->conn) != 1) {
		buf_printf(&p->err, "cannot leave pipeline mode: %s", db_errmsg(p->conn));
		return p->err.data;
	}
	p->on = false;
	return NULL;
}

void *
pgpipe_slot(struct pgpipe *p, pgpipe_check *check, PGresult **keep,
    const char **errp)
{
	void *pl;

	*errp = NULL;
	if (p->n == p->window && (*errp = pgpipe_sync(p)) != NULL)
		return NULL;
	p->slot[p->n].check = check;
	p->slot[p->n].keep = keep;
	pl = p->payload + (size_t)p->n * p->size;
	memset(pl, 0, p->size);
	p->n++;
	return pl;
}

bool
pgpipe_pending(const struct pgpipe *p, pgpipe_check *check)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (p->slot[i].check == check)
			return true;
	return false;
}
