/* sig.c: stop flag set by signals. */
#include <string.h>

#include "sig.h"

volatile sig_atomic_t sig_stop;

static void
on_stop(int signo)
{
	(void)signo;
	sig_stop = 1;
}

void
sig_catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Logs go to stderr, which the caller opened: there is nothing to
	 * reopen, and a hangup (a closed terminal, a log rotation's signal)
	 * must not end a consumer in the middle of its work. */
	signal(SIGHUP, SIG_IGN);
}
