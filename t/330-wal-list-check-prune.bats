#!/usr/bin/env bats
# wal-list, wal-check and wal-prune on hand-made archives (segments of
# 16 MiB, the default size, that are a page header and zeros: sparse
# sources, stored compressed, so cheap).
load helper

setup_file() {
	W=$(mktemp -d /tmp/skytools-w.XXXXXX)
	echo "$W" > "$BATS_FILE_TMPDIR/wdir"
	printf 'some wal\n' > "$W/f"
}
teardown_file() { rm -rf "$(cat "$BATS_FILE_TMPDIR/wdir")"; }
setup() {
	W=$(cat "$BATS_FILE_TMPDIR/wdir")
	A="$W/a$BATS_TEST_NUMBER"
	mkdir -p "$A"
}

push() {	# push NAME...
	local n
	for n in "$@"; do
		if [ ${#n} -eq 24 ]; then
			segfile "$n" && wal-push -A "$A" -c zstd "$(segfile_path)" "$n"
		else
			wal-push -A "$A" "$W/f" "$n"
		fi 2>/dev/null || return 1
	done
}

segfile_path() { echo "$W/s$BATS_TEST_NUMBER"; }
segfile() {	# segfile NAME: segment NAME of 16 MiB at segfile_path
	local f
	f=$(segfile_path)
	rm -f "$f"
	truncate -s 16M "$f"
	wal_header "$1" 16777216 | dd of="$f" conv=notrunc status=none
}

fake_backup() {	# fake_backup LABEL START_LSN SEGMENT TLI
	mkdir -p "$A/base/$1"
	printf 'START WAL LOCATION: %s (file %s)\nCHECKPOINT LOCATION: %s\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2024-01-01 00:00:00 UTC\nLABEL: %s\nSTART TIMELINE: %s\n' \
		"$2" "$3" "$2" "$1" "$4" > "$A/base/$1/backup_label"
	printf '{}\n' > "$A/base/$1/backup_manifest"
}

@test "wal-list, wal-check, wal-prune: basic checks" {
	basic_checks wal-list
	basic_checks wal-check
	basic_checks wal-prune
}

@test "wal-list: TSV with a header, WAL files and base backups" {
	push 00000002.history
	segfile 000000010000000000000001
	wal-push -A "$A" "$(segfile_path)" 000000010000000000000001
	push 000000010000000000000002
	fake_backup b1 0/1000028 000000010000000000000001 1
	run --separate-stderr wal-list -A "$A"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(printf 'kind\tname\ttimeline\tsize\tcompressed\ttime')" ]
	[[ "${lines[1]}" == "$(printf 'segment\t000000010000000000000001\t1\t16777216\tnone\t')"* ]]
	[[ "${lines[2]}" == "$(printf 'segment\t000000010000000000000002\t1\t16777216\tzstd\t')"* ]]
	[[ "${lines[3]}" == "$(printf 'history\t00000002.history\t2\t9\tnone\t')"* ]]
	[[ "${lines[4]}" == "$(printf 'base\tb1\t1\t')"* ]]
	[ "${#lines[@]}" -eq 5 ]
	run --separate-stderr wal-list -A "$W/nonexistent"
	[ "$status" -eq 3 ]
}

@test "wal-check: complete, then each gap listed" {
	push 000000010000000000000001 000000010000000000000002 000000010000000000000003
	run --separate-stderr wal-check -A "$A"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'checked\t000000010000000000000001\t000000010000000000000003')" ]
	push 000000010000000000000006 000000010000000000000008 0000000100000001000000FF
	run --separate-stderr wal-check -A "$A"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "$(printf 'missing\t000000010000000000000004\t000000010000000000000005')" ]
	[ "${lines[1]}" = "$(printf 'missing\t000000010000000000000007\t000000010000000000000007')" ]
	[ "${lines[2]}" = "$(printf 'missing\t000000010000000000000009\t0000000100000001000000FE')" ]
	run --separate-stderr wal-check -A "$A" --from 000000010000000000000008
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 2 ]
	run --separate-stderr wal-check -A "$A" --from bogus
	[ "$status" -eq 2 ]
	run --separate-stderr wal-check -A "$A" --backup nosuch
	[ "$status" -eq 2 ]
}

@test "wal-check: follows a timeline switch through its history file" {
	push 000000010000000000000001 000000010000000000000002 000000010000000000000003
	# Timeline 2 forked in segment 3; the old timeline went on (4, 5).
	printf '1\t0/3000100\tno recovery target specified\n' > "$W/h2"
	wal-push -A "$A" "$W/h2" 00000002.history
	push 000000010000000000000004 000000010000000000000005
	push 000000020000000000000003 000000020000000000000004
	run --separate-stderr wal-check -A "$A"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'checked\t000000010000000000000001\t000000020000000000000004')" ]
	# Without timeline 2's copy of segment 3 there is a gap, even though
	# timeline 1 has a segment 3.
	rm "$A/wal/000000020000000000000003.zst"
	run --separate-stderr wal-check -A "$A"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "$(printf 'missing\t000000020000000000000003\t000000020000000000000003')" ]
	# A backup taken on timeline 1 after the fork follows timeline 1.
	fake_backup late 0/5000028 000000010000000000000005 1
	run --separate-stderr wal-check -A "$A" --backup late
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'checked\t000000010000000000000005\t000000010000000000000005')" ]
	# A missing history file is reported.
	rm "$A/wal/00000002.history"
	run --separate-stderr wal-check -A "$A" --from 000000020000000000000004
	[ "$status" -eq 1 ]
	[[ "$output" == *"missing	00000002.history"* ]]
}

@test "wal-check --verify: a stored file that is not its segment is damaged" {
	push 000000010000000000000001 000000010000000000000003
	# As wal-push archived it before it checked segments.
	printf 'not wal\n' > "$W/junk$BATS_TEST_NUMBER"
	wal_store_unchecked "$A" "$W/junk$BATS_TEST_NUMBER" 000000010000000000000002 zstd
	run --separate-stderr wal-check -A "$A"
	[ "$status" -eq 0 ]
	run --separate-stderr wal-check -A "$A" --verify
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "$(printf 'damaged\t000000010000000000000002.zst\t8 bytes: not a WAL segment (its size is a power of 2 from 1 MiB to 1 GiB)')" ]
	[ "${lines[1]}" = "$(printf 'checked\t000000010000000000000001\t000000010000000000000003')" ]
	# Partial, history and backup files are not segments: kept as they are.
	push 000000010000000000000003.partial 000000010000000000000001.00000028.backup
	rm "$A/wal/000000010000000000000002.zst"
	push 000000010000000000000002
	run --separate-stderr wal-check -A "$A" --verify
	[ "$status" -eq 0 ]
}

@test "wal-check --verify: WAL of another cluster where recovery replays is damaged" {
	push 000000010000000000000001 000000010000000000000002
	WAL_SEG_SYSID=42 push 000000010000000000000003
	run --separate-stderr wal-check -A "$A" --verify
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "$(printf 'damaged\t000000010000000000000003.zst\tsystem identifier 42, not 7300000000000000001 of segment 000000010000000000000001: WAL of another cluster')" ]
	[ "${#lines[@]}" -eq 2 ]
	# The start's base backup decides when its pg_control is there (it
	# starts with the system identifier); WAL before it is not replayed.
	fake_backup b 0/2000028 000000010000000000000002 1
	mkdir "$A/base/b/global"
	printf '\052\0\0\0\0\0\0\0' > "$A/base/b/global/pg_control"
	run --separate-stderr wal-check -A "$A" --verify
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "$(printf 'damaged\t000000010000000000000002.zst\tsystem identifier 7300000000000000001, not 42 of base backup b: WAL of another cluster')" ]
	[ "${lines[1]}" = "$(printf 'checked\t000000010000000000000002\t000000010000000000000003')" ]
}

@test "wal-check: a backup whose WAL is not archived yet is a gap" {
	push 000000010000000000000001
	fake_backup b 0/3000028 000000010000000000000003 1
	run --separate-stderr wal-check -A "$A"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "$(printf 'missing\t000000010000000000000003\t000000010000000000000003')" ]
	run --separate-stderr wal-check -A "$W/empty$BATS_TEST_NUMBER"
	[ "$status" -eq 3 ]
}

@test "wal-prune --before: removes older WAL, never history files" {
	push 000000010000000000000001 000000010000000000000002 \
		000000010000000000000002.00000028.backup 000000010000000000000003 \
		000000010000000000000003.partial 00000002.history 000000020000000000000003
	run --separate-stderr wal-prune -A "$A" --before 000000010000000000000003 --dry-run
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[ -f "$A/wal/000000010000000000000001.zst" ]
	run --separate-stderr wal-prune -A "$A" --before 000000020000000000000003
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'segment\t000000010000000000000001\nsegment\t000000010000000000000002\nbackup\t000000010000000000000002.00000028.backup')" ]
	[ "$(ls "$A/wal" | tr '\n' ' ')" = "000000010000000000000003.partial 000000010000000000000003.zst 00000002.history 000000020000000000000003.zst " ]
	run --separate-stderr wal-prune -A "$A" --before nonsense
	[ "$status" -eq 2 ]
	run --separate-stderr wal-prune -A "$A"
	[ "$status" -eq 2 ]
	run --separate-stderr wal-prune -A "$A" --before 000000010000000000000003 --keep-backups 1
	[ "$status" -eq 2 ]
}

@test "wal-prune --before never removes WAL a backup needs" {
	push 000000010000000000000001 000000010000000000000002 000000010000000000000003
	fake_backup b 0/2000028 000000010000000000000002 1
	run --separate-stderr wal-prune -A "$A" --before 000000010000000000000003
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"base backup b needs it"* ]]
	[ "$output" = "$(printf 'segment\t000000010000000000000001')" ]
	[ -f "$A/wal/000000010000000000000002.zst" ]
}

@test "wal-prune --keep-backups: older backups and their WAL go" {
	push 000000010000000000000001 000000010000000000000002 000000010000000000000003 \
		000000010000000000000004
	fake_backup old 0/1000028 000000010000000000000001 1
	fake_backup mid 0/2000028 000000010000000000000002 1
	fake_backup new 0/3000028 000000010000000000000003 1
	run --separate-stderr wal-prune -A "$A" --keep-backups 2 --dry-run
	[ "$status" -eq 0 ]
	[ -d "$A/base/old" ]
	run --separate-stderr wal-prune -A "$A" --keep-backups 2
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'base\told\nsegment\t000000010000000000000001')" ]
	[ "$(ls -A "$A/base" | tr '\n' ' ')" = "mid new " ]
	run --separate-stderr wal-check -A "$A"
	[ "$status" -eq 0 ]
	run --separate-stderr wal-prune -A "$A" --keep-backups 0
	[ "$status" -eq 2 ]
}

@test "wal-check: a gap of 2^40 segments is one range, found at once" {
	push 000000010000000000000001 00000001FFFFFFFF000000FF
	# Walking it took about 28 hours; the time limit only stops a hang.
	run --separate-stderr timeout 60 wal-check -A "$A"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "$(printf 'missing\t000000010000000000000002\t00000001FFFFFFFF000000FE')" ]
	[ "${lines[1]}" = "$(printf 'checked\t000000010000000000000001\t00000001FFFFFFFF000000FF')" ]
}

@test "wal-list --backups, wal-prune --keep-backups: the newest timeline's history decides, not LSNs" {
	push 000000010000000000000001 000000010000000000000002 000000010000000000000003 \
		000000010000000000000004 000000010000000000000005 000000010000000000000006 \
		000000020000000000000003 000000020000000000000004 000000020000000000000005
	# Timeline 2 left timeline 1 at 0/3000100 (a point-in-time restore).
	printf '1\t0/3000100\tbefore transaction 1234\n' > "$W/h2"
	wal-push -A "$A" "$W/h2" 00000002.history
	fake_backup b0 0/1000028 000000010000000000000001 1	# before the fork
	fake_backup bA 0/5000028 000000010000000000000005 1	# abandoned branch
	fake_backup bB 0/4000028 000000020000000000000004 2	# timeline 2
	fake_backup bC 0/6000028 000000010000000000000006 1	# the old master went on
	touch -d '2030-01-01 00:00:00' "$A/base/b0/backup_manifest"
	touch -d '2030-01-01 01:00:00' "$A/base/bA/backup_manifest"
	touch -d '2030-01-01 02:00:00.5' "$A/base/bB/backup_manifest"
	touch -d '2030-01-01 03:00:00' "$A/base/bC/backup_manifest"
	run --separate-stderr wal-list -A "$A" --backups
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(printf 'label\ttimeline\tstart_lsn\tend_lsn\ttime\tlive')" ]
	[ "$(echo "$output" | sed 1d | cut -f1,6 | tr '\t\n' ': ')" = "bA:f bC:f b0:t bB:t " ]
	[[ "${lines[4]}" == "$(printf 'bB\t2\t0/4000028\t\\N\t')"*".500000+00	t" ]]
	# The oldest backup of the newest history is where wal-check starts.
	run --separate-stderr wal-check -A "$A"
	[[ "${lines[-1]}" == "$(printf 'checked\t000000010000000000000001\t00000002')"* ]]
	# Keep 1: bB, the newest of timeline 2 (bA's LSN is higher, but it
	# is abandoned and older); bC is off the history but newer: kept.
	run --separate-stderr wal-prune -A "$A" --keep-backups 1
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"keeping base backup bC"* ]]
	[ "$(ls "$A/base" | tr '\n' ' ')" = "bB bC " ]
	[ -f "$A/wal/000000020000000000000004.zst" ]
	[ -f "$A/wal/00000002.history" ]
	[ ! -e "$A/wal/000000010000000000000003.zst" ]
	[ ! -e "$A/wal/000000020000000000000003.zst" ]
}

@test "wal-prune --keep-days: backups of the last d days stay, beside the newest n" {
	push 000000010000000000000001 000000010000000000000002 000000010000000000000003 \
		000000010000000000000004
	fake_backup old 0/1000028 000000010000000000000001 1
	fake_backup mid 0/2000028 000000010000000000000002 1
	fake_backup new 0/3000028 000000010000000000000003 1
	touch -d '30 days ago' "$A/base/old/backup_manifest"
	touch -d '5 days ago' "$A/base/mid/backup_manifest"
	run --separate-stderr wal-prune -A "$A" --keep-backups 1 --keep-days 10
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'base\told\nsegment\t000000010000000000000001')" ]
	[ "$(ls -A "$A/base" | tr '\n' ' ')" = "mid new " ]
	# Days alone: the newest backup stays even when older than d.
	touch -d '40 days ago' "$A/base/mid/backup_manifest" "$A/base/new/backup_manifest"
	run --separate-stderr wal-prune -A "$A" --keep-days 10
	[ "$status" -eq 0 ]
	[ "$(ls -A "$A/base")" = new ]
	run --separate-stderr wal-prune -A "$A" --keep-days 0
	[ "$status" -eq 2 ]
	run --separate-stderr wal-prune -A "$A" --before 000000010000000000000002 --wal-backups 1
	[ "$status" -eq 2 ]
}

@test "wal-prune --wal-backups, --keep-from: WAL retention apart from backup retention" {
	push 000000010000000000000001 000000010000000000000002 000000010000000000000003 \
		000000010000000000000004
	fake_backup old 0/1000028 000000010000000000000001 1
	fake_backup mid 0/2000028 000000010000000000000002 1
	fake_backup new 0/3000028 000000010000000000000003 1
	touch -d '3 days ago' "$A/base/old/backup_manifest"
	touch -d '2 days ago' "$A/base/mid/backup_manifest"
	touch -d '1 day ago' "$A/base/new/backup_manifest"
	# A standby still replays segment 2: it stays, though only the
	# newest backup keeps its WAL.
	run --separate-stderr wal-prune -A "$A" --keep-backups 3 --wal-backups 1 \
		--keep-from 000000010000000000000002
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'segment\t000000010000000000000001')" ]
	[[ "$stderr" == *"keeping WAL from 000000010000000000000002"* ]]
	run --separate-stderr wal-prune -A "$A" --keep-backups 3 --wal-backups 1
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'segment\t000000010000000000000002')" ]
	[ "$(ls -A "$A/base" | tr '\n' ' ')" = "mid new old " ]
	run --separate-stderr wal-prune -A "$A" --keep-backups 1 --keep-from 0000000100000000000000
	[ "$status" -eq 2 ]
}
