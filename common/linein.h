/* Tier: generic (no libpq, nothing of PgQ, Londiste or WAL; includes generic headers only). */
/* linein.h: buffered line input on a raw file descriptor.
 *
 * Unlike stdio, it can tell whether a whole line is ready without
 * blocking (a producer commits its open chunk before it waits), and while
 * it waits it can watch another descriptor, normally stdout, to notice
 * that the next stage of a pipeline died. */
#ifndef LINEIN_H
#define LINEIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct linein {
	int	    fd;
	int	    watch_fd;	/* -1: none */
	const char *name;	/* for messages */
	char	   *buf;	/* [pos, end) not yet consumed */
	size_t	    pos, end, cap;
};

void linein_init(struct linein *li, int fd, int watch_fd, const char *name);
void linein_free(struct linein *li);

/* The next line, NUL terminated in place, without its newline; returns
 * its length, or -1 at EOF.  *complete is false for a last line without
 * a newline.  Exits EXIT_RETRY on a read error or when watch_fd reports
 * that its reader has gone. */
ssize_t linein_next(struct linein *li, char **line, bool *complete);

/* True when linein_next() would not block. */
bool linein_ready(struct linein *li);

#endif
