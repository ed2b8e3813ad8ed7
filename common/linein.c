/* linein.c: line input that knows when it would block. */
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "linein.h"
#include "util.h"

void
linein_init(struct linein *li, int fd, int watch_fd, const char *name)
{
	memset(li, 0, sizeof(*li));
	li->fd = fd;
	li->watch_fd = watch_fd;
	li->name = name;
	li->cap = 1 << 16;
	li->buf = xmalloc(li->cap);
}

void
linein_free(struct linein *li)
{
	free(li->buf);
	memset(li, 0, sizeof(*li));
}

/* Block until input is readable (timeout -1) or check (timeout 0). */
static bool
wait_input(struct linein *li, int timeout)
{
	struct pollfd pfd[2] = {
		{ .fd = li->fd, .events = POLLIN },
		{ .fd = li->watch_fd, .events = 0 },	/* errors only */
	};
	nfds_t n = li->watch_fd >= 0 ? 2 : 1;

	for (;;) {
		int r = poll(pfd, n, timeout);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err(EXIT_RETRY, "poll");
		}
		if (pfd[0].revents != 0)
			return true;
		if (n == 2 && (pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL)))
			errx(EXIT_RETRY, "output closed (next stage died?)");
		if (timeout == 0)
			return false;
	}
}

bool
linein_ready(struct linein *li)
{
	if (memchr(li->buf + li->pos, '\n', li->end - li->pos) != NULL)
		return true;
	return wait_input(li, 0);
}

ssize_t
linein_next(struct linein *li, char **line, bool *complete)
{
	for (;;) {
		char *nl = memchr(li->buf + li->pos, '\n', li->end - li->pos);
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - (li->buf + li->pos));

			*nl = '\0';
			*line = li->buf + li->pos;
			li->pos += len + 1;
			*complete = true;
			return (ssize_t)len;
		}
		/* Compact, or grow when one line fills the whole buffer. */
		if (li->pos > 0) {
			memmove(li->buf, li->buf + li->pos, li->end - li->pos);
			li->end -= li->pos;
			li->pos = 0;
		}
		if (li->end + 1 >= li->cap) {
			li->cap *= 2;
			li->buf = xrealloc(li->buf, li->cap);
		}
		wait_input(li, -1);
		n = read(li->fd, li->buf + li->end, li->cap - li->end - 1);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err(EXIT_RETRY, "read %s", li->name);
		}
		if (n == 0) {
			if (li->end == 0)
				return -1;
			li->buf[li->end] = '\0';
			*line = li->buf;
			*complete = false;
			n = (ssize_t)li->end;
			li->pos = li->end = 0;
			return n;
		}
		li->end += (size_t)n;
	}
}
