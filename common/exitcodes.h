/* Tier: generic (no libpq, nothing of PgQ, Londiste or WAL; includes generic headers only). */
/* exitcodes.h: the exit statuses every program shares; each program's
 * man page lists under EXIT STATUS those it uses. */
#ifndef EXITCODES_H
#define EXITCODES_H

enum {
	EXIT_DONE    = 0,	/* done */
	EXIT_NO      = 1,	/* negative answer scripts branch on */
	EXIT_USAGE   = 2,	/* usage error or bad input: retry cannot fix */
	EXIT_RETRY   = 3,	/* lost connection, server or I/O error */
	EXIT_REFUSE  = 4	/* refused to protect data */
};

#endif
