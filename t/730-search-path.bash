# t/730-search-path.bash: search_path checks shared by t/730 (plain SQL
# install) and t/112 (CREATE EXTENSION).  Each takes psql's connection
# arguments (e.g. -d ab, or -p 5433 -d e) and runs as the caller's user.

_sp_psql() { psql -XAtq -v ON_ERROR_STOP=1 "$@"; }

# Our schemas: every schema but the system ones and public (a test
# database holds nothing else but what our SQL installs, plus the
# schemas a test names in SP_OTHER_SCHEMAS).
_sp_ours="n.nspname NOT IN ('pg_catalog', 'information_schema', 'public')
	AND n.nspname NOT LIKE 'pg\\_%'
	AND n.nspname <> ALL (string_to_array('${SP_OTHER_SCHEMAS:-}', ' '))"

# A safe pinned path: pg_catalog first, pg_temp last, nothing a caller
# may create objects in (public, "$user") between.
_sp_safe="c ~ '^search_path=pg_catalog(, (pgq|pgq_coop|pgq_node|londiste))*, pg_temp\$'"

# Print the SECURITY DEFINER functions of our schemas whose search_path
# is not pinned safely (nothing when all are).
sp_unsafe_secdef() {
	_sp_psql "$@" -c "SELECT p.oid::regprocedure || ' ' || coalesce(array_to_string(p.proconfig, ' '), '(no settings)')
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE $_sp_ours AND p.prosecdef
		AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE $_sp_safe)
		ORDER BY 1"
}

# Print every function of our schemas without a safe pinned search_path,
# but for those that must resolve names as their caller does:
# seq_getval/seq_setval (PgQ's API takes the caller's sequence names) and
# the trigger entry points (they qualify every name, and their C
# versions stay without settings: a setting costs every row).
sp_unpinned() {
	_sp_psql "$@" -c "SELECT p.oid::regprocedure || ' ' || coalesce(array_to_string(p.proconfig, ' '), '(no settings)')
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE $_sp_ours
		AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE $_sp_safe)
		AND p.oid::regprocedure::text NOT IN ('pgq.seq_getval(text)',
			'pgq.seq_setval(text,bigint)', 'pgq.logutriga()', 'pgq.sqltriga()',
			'pgq.jsontriga()')
		ORDER BY 1"
}

# Types a caller may shadow with a temporary domain whose check runs
# code: every type name the parser does not map to pg_catalog itself.
SP_TYPES="text timestamptz xid8 pg_snapshot regclass name oid json"

# sp_temp_domain_trap ROLE PSQL-ARGS... -- SQL...: as ROLE, shadow
# SP_TYPES with temporary domains whose check tries to make ROLE a
# superuser and records the user it runs as in public.sp_trap, then run
# each SQL statement (in one session, each in its own transaction; a
# refused one goes on to the next).  public.sp_trap (who text, what
# text) must be writable by ROLE.
sp_temp_domain_trap() {
	local role=$1 t stmt
	local args=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	{
		printf '%s\n' "CREATE FUNCTION pg_temp.sp_evil(x anyelement) RETURNS bool LANGUAGE plpgsql AS
		  \$\$BEGIN INSERT INTO public.sp_trap VALUES (current_user, 'temp domain');
		  BEGIN EXECUTE 'ALTER ROLE $role SUPERUSER';
		  EXCEPTION WHEN insufficient_privilege THEN NULL; END;
		  RETURN true; END\$\$;"
		for t in $SP_TYPES; do
			printf 'CREATE DOMAIN pg_temp.%s AS pg_catalog.%s CHECK (pg_temp.sp_evil(VALUE));\n' "$t" "$t"
		done
		for stmt in "$@"; do
			printf '%s;\n' "$stmt"
		done
	} | psql -Xq "${args[@]}" -U "$role" >/dev/null 2>&1 || :
}

# Statements anyone may run (the status functions are PUBLIC's).
SP_PUBLIC_CALLS=("SELECT * FROM pgq.get_consumer_info()" "SELECT * FROM pgq.get_queue_info()"
	"SELECT * FROM pgq.get_queue_info('q')" "SELECT * FROM pgq.get_consumer_info('q')"
	"SELECT * FROM pgq.get_consumer_info('q', 'c')" "SELECT pgq.version()"
	"SELECT pgq.quote_fqname('a.b')" "SELECT pgq_node.version()"
	"SELECT pgq_node.is_root_node('q')")
