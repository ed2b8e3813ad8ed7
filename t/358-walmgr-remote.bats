#!/usr/bin/env bats
# walmgr with a remote archive, host:path over ssh: an sshd of the
# test's own on 127.0.0.1 (keys made here), the server's user logging
# in to itself.  Push, fetch, backup, restore, list, check, prune.
load helper
load 35x-walmgr

setup_file() {
	walmgr_setup || return 1
	mkdir -p "$TEST_DIR/ssh"
	S=$TEST_DIR/ssh
	ssh-keygen -q -t ed25519 -N '' -f "$S/host_key" || return 1
	ssh-keygen -q -t ed25519 -N '' -f "$S/id" || return 1
	cp "$S/id.pub" "$S/authorized_keys"
	port=$((20000 + $$ % 20000))
	user=$(id -un)
	[ "$(id -u)" = 0 ] && user=postgres
	cat > "$S/sshd_config" <<-CONF
	ListenAddress 127.0.0.1
	Port $port
	HostKey $S/host_key
	AuthorizedKeysFile $S/authorized_keys
	PidFile $S/sshd.pid
	StrictModes no
	UsePAM yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	PermitRootLogin no
	AllowUsers $user
	CONF
	cat > "$S/config" <<-CONF
	Host archhost
	  HostName 127.0.0.1
	  Port $port
	  User $user
	  IdentityFile $S/id
	  IdentitiesOnly yes
	  HostKeyAlias archhost
	  UserKnownHostsFile $S/known_hosts
	  StrictHostKeyChecking yes
	CONF
	printf 'archhost %s\n' "$(cut -d ' ' -f1,2 "$S/host_key.pub")" > "$S/known_hosts"
	# A copy of the config whose host cannot be reached.
	sed "s/Port $port/Port 1/" "$S/config" > "$S/config.down"
	[ "$(id -u)" = 0 ] && chown postgres: "$S/id" "$S/id.pub" "$S/config" "$S/config.down" "$S/known_hosts"
	[ -d /run/sshd ] || mkdir -p /run/sshd
	/usr/sbin/sshd -f "$S/sshd_config" -D -e -E "$S/sshd.log" 3>&- &
	echo $! > "$S/sshd.bgpid"
	mkdir "$TEST_DIR/remote arch"
	cat > "$TEST_DIR/walmgr.ini" <<-INI
	[walmgr]
	master_db = host=$TEST_DIR port=5432 dbname=postgres
	archive = archhost:$TEST_DIR/remote arch
	ssh_command = ssh -F $S/config
	compression = zstd
	keep_backups = 1
	INI
	sed "s|-F $S/config|-F $S/config.down|" "$TEST_DIR/walmgr.ini" > "$TEST_DIR/down.ini"
	pg_owns "$TEST_DIR"/*.ini "$TEST_DIR/remote arch"
	wait_for as_pg ssh -F "$S/config" -o BatchMode=yes archhost true
}

teardown_file() {
	local pid
	pid=$(cat "$TEST_DIR/ssh/sshd.bgpid" 2>/dev/null) && { kill "$pid" 2>/dev/null || :; }
	pg_stop
}

R="remote arch"

@test "remote: setup archives through ssh (xarchive)" {
	run --separate-stderr walmgr_pg setup
	echo "$stderr"
	[ "$status" -eq 0 ]
	pg_restart
	[[ "$(sql postgres 'SHOW archive_command')" == *"walmgr"*"xarchive"* ]]
	sql postgres "CREATE TABLE t (id int)"
	sql postgres "INSERT INTO t SELECT generate_series(1, 1000)"
	run --separate-stderr walmgr_pg sync
	echo "$stderr"
	[ "$status" -eq 0 ]
	seg=$output
	[ -f "$TEST_DIR/$R/wal/$seg.zst" ]
	[ -z "$(ls -A "$TEST_DIR/$R/wal" | grep '^\.')" ]
}

@test "remote: a connection that drops mid-file archives nothing, leaves nothing" {
	# An ssh that passes on only the first 1000 bytes of the file.
	printf '#!/bin/sh\nhead -c 1000 | ssh "$@"\n' > "$TEST_DIR/bin/halfssh"
	chmod 755 "$TEST_DIR/bin/halfssh"
	sed "s|^ssh_command = ssh|ssh_command = $TEST_DIR/bin/halfssh|" "$TEST_DIR/walmgr.ini" > "$TEST_DIR/half.ini"
	[ "$(id -u)" = 0 ] && chown postgres: "$TEST_DIR/half.ini"
	f=$(ls "$TEST_PGDATA/pg_wal" | grep -E '^[0-9A-F]{24}$' | tail -n 1)
	run --separate-stderr as_pg env PATH="$TEST_DIR/bin:$PATH" walmgr "$TEST_DIR/half.ini" \
		xarchive "$TEST_PGDATA/pg_wal/$f" 0000000100000000000000F0
	echo "$stderr"
	[ "$status" -eq 3 ]
	[[ "$stderr" == *"nothing archived"* ]]
	[ -z "$(ls -A "$TEST_DIR/$R/wal" | grep F0)" ]
	[ -z "$(ls -A "$TEST_DIR/$R/wal" | grep '^\.')" ]
}

@test "remote: backup, listbackups, check" {
	run --separate-stderr walmgr_pg backup
	echo "$stderr"
	[ "$status" -eq 0 ]
	label=$output
	echo "$label" > "$TEST_DIR/label1"
	[ -f "$TEST_DIR/$R/base/$label/base.tar.zst" ]
	[ -z "$(ls -A "$TEST_DIR/$R/base" | grep '^\.')" ]
	run --separate-stderr walmgr_pg listbackups
	[ "$status" -eq 0 ]
	[[ "$output" == *"base	$label	"* ]]
	sql postgres "INSERT INTO t SELECT generate_series(1001, 2000)"
	walmgr_pg sync
	run --separate-stderr walmgr_pg check
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == checked* ]]
	run --separate-stderr walmgr_pg status
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | sed -n 2p | cut -f13)" = 1 ]
}

@test "remote: restore fetches the backup and every segment over ssh" {
	run --separate-stderr walmgr_pg restore "$TEST_DIR/copy" --no-archive
	echo "$stderr"
	[ "$status" -eq 0 ]
	grep -q "xrestore" "$TEST_DIR/copy/postgresql.auto.conf"
	[ ! -e "$TEST_DIR/copy/.walmgr-fetch" ]
	start_copy "$TEST_DIR/copy" 5433
	wait_for q_is 5433 "SELECT pg_is_in_recovery()" f
	[ "$(psql -XAtq -p 5433 -d postgres -c 'SELECT count(*) FROM t')" = 2000 ]
	stop_copy "$TEST_DIR/copy"
}

@test "remote: xrestore stops recovery when the host cannot be reached" {
	run --separate-stderr as_pg env PATH="$TEST_DIR/bin:$PATH" walmgr "$TEST_DIR/down.ini" \
		xrestore 000000010000000000000001 "$TEST_DIR/x"
	echo "$stderr"
	[ "$status" -gt 125 ]
	[ ! -e "$TEST_DIR/x" ]
	[ ! -e "$TEST_DIR/x.walmgr-tmp" ]
	run --separate-stderr walmgr_pg xrestore 0000000100000000000000EE "$TEST_DIR/x"
	[ "$status" -eq 1 ]
	[ ! -e "$TEST_DIR/x.walmgr-tmp" ]
}

@test "remote: a standby replays what is archived later, over ssh" {
	run --separate-stderr walmgr_pg standby "$TEST_DIR/sb"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ -f "$TEST_DIR/sb/standby.signal" ]
	start_copy "$TEST_DIR/sb" 5434
	sql postgres "INSERT INTO t SELECT generate_series(2001, 2100)"
	walmgr_pg sync
	wait_for q_is 5434 "SELECT count(*) FROM t" 2100
	stop_copy "$TEST_DIR/sb"
}

@test "remote: cleanup prunes over ssh" {
	first=$(cat "$TEST_DIR/label1")
	sleep 1	# a label of its own
	run --separate-stderr walmgr_pg backup
	[ "$status" -eq 0 ]
	second=$output
	walmgr_pg sync
	run --separate-stderr walmgr_pg cleanup
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *"base	$first"* ]]
	[ "$(ls "$TEST_DIR/$R/base")" = "$second" ]
	run --separate-stderr walmgr_pg check
	[ "$status" -eq 0 ]
}
