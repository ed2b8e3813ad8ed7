#!/usr/bin/env bats
# make install stays inside PREFIX; make install-pg writes the server's
# directories and never over another Debian package's file; installed
# wrappers find their programs without PATH.
load helper

setup_file() { :; }
teardown_file() { :; }

# make in the source tree, on the build the tests run (already built by
# make check; the same flags, should anything be rebuilt).
mk() {
	local san="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
	make -s -C "$TOP" O="$SKYTOOLS_BUILD" CFLAGS="$san" LDFLAGS="$san" "$@"
}

@test "make install with DESTDIR writes nothing outside PREFIX" {
	d="$BATS_TEST_TMPDIR/dest"
	run mk install DESTDIR="$d" PREFIX=/opt/sky
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	outside=$(cd "$d" && find . -type f ! -path './opt/sky/*')
	[ -z "$outside" ] || { echo "outside PREFIX: $outside"; false; }
	for f in bin/pgq-tick bin/pgqadm bin/walmgr bin/londiste share/man/man1/pgq-tick.1 \
		share/skytools-c/skytools-sh.lib share/skytools-c/londiste-cascade.lib share/skytools-c/londiste-failover.lib share/skytools-c/sql/pgq.sql \
		share/skytools-c/extension/pgq.control share/skytools-c/extension/londiste.control; do
		[ -f "$d/opt/sky/$f" ] || { echo "missing $f"; false; }
	done
	if [ -f "$SKYTOOLS_BUILD/server/pgq_c.so" ]; then
		[ -f "$d/opt/sky/lib/skytools-c/pgq_c.so" ]
		[ -f "$d/opt/sky/lib/skytools-c/skytools_wal.so" ]
	fi
	# the wrappers read their library from the installed place
	grep -qx 'SKYTOOLS_DATADIR=/opt/sky/share/skytools-c' "$d/opt/sky/bin/pgqadm"
}

@test "make install PREFIX=dir leaves the server's files alone" {
	p="$BATS_TEST_TMPDIR/prefix"
	ext="$(pg_config --sharedir)/extension"
	before=$(ls -l --time-style=+%s.%N "$ext" "$(pg_config --pkglibdir)" | md5sum)
	run mk install PREFIX="$p"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(ls -l --time-style=+%s.%N "$ext" "$(pg_config --pkglibdir)" | md5sum)" = "$before" ]
	[ -f "$p/share/skytools-c/extension/pgq.control" ]
}

@test "installed wrappers find their programs by their own path" {
	p="$BATS_TEST_TMPDIR/prefix"
	run mk install PREFIX="$p"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	for w in walmgr pgqadm londiste pgq-consumer; do
		run --separate-stderr env -i PATH=/usr/bin:/bin ASAN_OPTIONS="$ASAN_OPTIONS" \
			"$p/bin/$w" --version
		[ "$status" -eq 0 ] || { echo "$w: $status $stderr"; false; }
		[[ "$output" == "$w "* ]] || { echo "$w: $output"; false; }
	done
	# a verb that runs a program: usage error from wal-push's neighbour
	run --separate-stderr env -i PATH=/usr/bin:/bin ASAN_OPTIONS="$ASAN_OPTIONS" \
		"$p/bin/pgqadm" -d "dbname=x host=$BATS_TEST_TMPDIR" status
	[ "$status" -eq 3 ] || { echo "$status $stderr"; false; }
	[[ "$stderr" != *"not found"* ]]
}

@test "make install-pg with DESTDIR: extensions and modules where pg_config says" {
	d="$BATS_TEST_TMPDIR/pgdest"
	run mk install-pg DESTDIR="$d"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	ext="$d$(pg_config --sharedir)/extension"
	for e in pgq pgq_coop pgq_node londiste; do
		[ -f "$ext/$e.control" ]
		grep -q "Skytools in C" "$ext/$e.control"
	done
	if [ -f "$SKYTOOLS_BUILD/server/pgq_c.so" ]; then
		[ -f "$d$(pg_config --pkglibdir)/pgq_c.so" ]
	fi
}

@test "make install-pg-modules with DESTDIR: the C modules only, where pg_config says" {
	[ -f "$SKYTOOLS_BUILD/server/skytools_wal.so" ] || skip "no PostgreSQL server headers: modules not built"
	d="$BATS_TEST_TMPDIR/moddest"
	run mk install-pg-modules DESTDIR="$d"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ -f "$d$(pg_config --pkglibdir)/skytools_wal.so" ]
	[ -f "$d$(pg_config --pkglibdir)/pgq_c.so" ]
	[ -z "$(cd "$d" && find . -type f ! -name '*.so')" ]
}

@test "make install-pg refuses to overwrite another Debian package's file" {
	command -v dpkg >/dev/null || skip "no dpkg here"
	ctl="$(pg_config --sharedir)/extension/pgq.control"
	owner=$(dpkg -S "$ctl" 2>/dev/null) || skip "$ctl belongs to no Debian package here"
	sum=$(md5sum <"$ctl")
	coop="$(pg_config --sharedir)/extension/pgq_coop.control"
	had_coop=0
	[ -e "$coop" ] && had_coop=1
	run --separate-stderr mk install-pg
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"$ctl belongs to the Debian package ${owner%%:*}"* ]]
	[[ "$stderr" == *"FORCE=1"* ]]
	# nothing was written, not even the files no package owns
	[ "$(md5sum <"$ctl")" = "$sum" ]
	[ -e "$coop" ] || [ "$had_coop" = 0 ]
	[ "$had_coop" = 1 ] || [ ! -e "$coop" ]
}

@test "make install: systemd units with the installed paths, accepted by systemd-analyze" {
	p="$BATS_TEST_TMPDIR/prefix"
	run mk install PREFIX="$p"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	u="$p/lib/systemd/system"
	for f in pgq-ticker@.service londiste@.service pgq-consumer@.service; do
		[ -f "$u/$f" ] || { echo "missing $f"; false; }
		! grep -n '@[A-Z]*@' "$u/$f" || { echo "$f: placeholder left"; false; }
	done
	grep -qx "ExecStart=$p/bin/pgqadm /etc/skytools/%i.ini ticker" "$u/pgq-ticker@.service"
	grep -qx "ExecStart=$p/bin/londiste /etc/skytools/%i.ini replay" "$u/londiste@.service"
	grep -q "^ExecStart=$p/bin/pgq-consumer " "$u/pgq-consumer@.service"
	# SYSTEMDUNITDIR moves them, under DESTDIR too
	d="$BATS_TEST_TMPDIR/dest"
	run mk install DESTDIR="$d" PREFIX=/opt/sky SYSTEMDUNITDIR=/opt/sky/units
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	grep -qx "ExecStart=/opt/sky/bin/londiste /etc/skytools/%i.ini replay" "$d/opt/sky/units/londiste@.service"
	command -v systemd-analyze >/dev/null || skip "systemd-analyze (Debian package systemd) is not installed"
	# verify checks that ExecStart names an executable (an instance name
	# makes it load the template).  Its man-page check runs man(1),
	# which a minimal system lacks: the Documentation= pages are checked
	# here against what was installed instead.
	cd "$u"
	run systemd-analyze verify --man=no \
		./pgq-ticker@main.service ./londiste@main.service ./pgq-consumer@main.service
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	for f in pgq-ticker@.service londiste@.service pgq-consumer@.service; do
		for m in $(sed -n 's/^Documentation=//p' "$f"); do
			case $m in
			man:*)
				m=${m#man:}; sec=${m#*\(}; sec=${sec%\)}
				[ -f "$p/share/man/man$sec/${m%%\(*}.$sec" ] ||
					{ echo "$f: $m not installed"; false; } ;;
			esac
		done
	done
}
