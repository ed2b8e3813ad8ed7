/* Tier: generic (no libpq, nothing of PgQ, Londiste or WAL; includes generic headers only). */
/* sig.h: SIGTERM/SIGINT as a flag, for long-running modes. */
#ifndef SIG_H
#define SIG_H

#include <signal.h>

/* Set by SIGTERM or SIGINT once sig_catch_stop() ran. */
extern volatile sig_atomic_t sig_stop;

/* Install handlers that only set sig_stop, and ignore SIGHUP.  No
 * SA_RESTART: a blocked poll() or read() returns EINTR so the loop sees
 * the flag. */
void sig_catch_stop(void);

#endif
