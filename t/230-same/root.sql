-- Calls on a root, run on ours and on the original (t/230); the
-- answers must be equal.
\set VERBOSITY terse
SELECT * FROM pgq_node.register_location('q', 'root', 'dbname=x', false);
SELECT ret_code FROM pgq_node.create_node('q', 'root', 'root', 'w_root', NULL, NULL, NULL);
CREATE TABLE t1 (id int PRIMARY KEY, v text);
CREATE TABLE t2 (id serial PRIMARY KEY, v text);
CREATE TABLE nopk (v text);
CREATE SCHEMA "Odd"; CREATE TABLE "Odd".x (id int PRIMARY KEY);
SELECT * FROM londiste.local_add_table('q', 't1');
SELECT * FROM londiste.local_add_table('q', 't1');
SELECT * FROM londiste.local_add_table('q', 't1', array['skip_truncate']);
SELECT * FROM londiste.local_add_table('q', 'public.t2', array['ev_extra4=''x''', 'backup']);
SELECT * FROM londiste.local_add_table('q', 'nopk');
SELECT * FROM londiste.local_add_table('q', 'nosuch');
SELECT * FROM londiste.local_add_table('nq', 't1');
SELECT * FROM londiste.local_add_table('q', 'a', array['merge_all', 'no_merge']);
SELECT * FROM londiste.get_table_list('q');
SELECT tgname, tgfoid::regproc, encode(tgargs, 'escape'), tgtype FROM pg_trigger
 WHERE tgrelid IN ('t1'::regclass, 't2'::regclass) ORDER BY 1, 3;
INSERT INTO t1 VALUES (1, 'a'); INSERT INTO t2 (v) VALUES ('b'); UPDATE t2 SET v = 'c';
TRUNCATE t1;
SELECT ev_type, ev_data, ev_extra1, ev_extra2, ev_extra4 FROM pgq.event_template ORDER BY ev_id;
SELECT * FROM londiste.local_show_missing('q');
SELECT * FROM londiste.local_add_seq('q', 't2_id_seq');
SELECT * FROM londiste.local_add_seq('q', 't2_id_seq');
SELECT * FROM londiste.local_add_seq('q', 'nosuchseq');
SELECT * FROM londiste.get_seq_list('q');
SELECT * FROM londiste.root_check_seqs('q');
SELECT * FROM londiste.root_check_seqs('nq');
SELECT * FROM londiste.global_update_seq('q', 't2_id_seq', 5);
SELECT * FROM londiste.local_remove_table('q', 't2');
SELECT * FROM londiste.local_remove_table('q', 't2');
SELECT * FROM londiste.get_seq_list('q');
SELECT * FROM londiste.local_set_table_attrs('q', 'public.t1', 'a=1');
SELECT * FROM londiste.local_set_table_attrs('q', 'public.nosuch', 'a=1');
SELECT * FROM londiste.local_set_table_struct('q', 'public.t1', NULL);
SELECT * FROM londiste.local_set_table_struct('q', 'public.nosuch', NULL);
SELECT * FROM londiste.local_set_table_state('q', 'public.t1', NULL, 'ok');
SELECT * FROM londiste.local_set_table_state('q', 'public.nosuch', NULL, 'ok');
SELECT * FROM londiste.local_change_handler('q', 'public.t1', array['tgflags=BIQ'], 'handler=x');
SELECT * FROM londiste.local_change_handler('nq', 'public.t1', NULL, NULL);
SELECT tgname, tgfoid::regproc, encode(tgargs, 'escape'), tgtype FROM pg_trigger
 WHERE tgrelid = 't1'::regclass ORDER BY 1, 3;
SELECT * FROM londiste.local_add_table('q', 't2', array['tgflags=BU', 'skip']);
SELECT tgname, tgfoid::regproc, encode(tgargs, 'escape'), tgtype FROM pg_trigger
 WHERE tgrelid = 't2'::regclass ORDER BY 1, 3;
SELECT * FROM londiste.local_change_handler('q', 'public.t2', array['tgflags=A'], NULL);
SELECT * FROM londiste.local_add_table('q', 'Odd.x', array['no_triggers']);
SELECT * FROM londiste.execute_start('q', 'f1.sql', 'create table e1(a int)', true, 'attr=1');
SELECT * FROM londiste.execute_start('q', 'f1.sql', 'create table e1(a int)', true, 'attr=1');
SELECT * FROM londiste.execute_finish('q', 'f1.sql');
SELECT * FROM londiste.execute_finish('q', 'f2.sql');
SELECT queue_name, execute_file, execute_sql, execute_attrs FROM londiste.applied_execute;
SELECT * FROM londiste.global_remove_seq('q', 'nosuch');
SELECT * FROM londiste.local_remove_seq('q', 't2_id_seq');
SELECT * FROM londiste.global_add_table('q', 'newt');
SELECT * FROM londiste.global_add_table('nq', 'newt');
SELECT * FROM londiste.global_remove_table('q', 'newt');
SELECT * FROM londiste.global_remove_table('q', 'newt');
SELECT ev_type, ev_data, ev_extra1, ev_extra2, ev_extra4 FROM pgq.event_template
 WHERE ev_type NOT LIKE '_:%' AND ev_type <> 'R' ORDER BY ev_id;
SELECT * FROM londiste.get_table_list('q');
SELECT londiste.make_fqname('a'), londiste.make_fqname('a.b.c'), londiste.quote_fqname('A b.c.d'),
       (londiste.split_fqname('x')).*, londiste.find_column_types('t1'),
       londiste.find_table_oid('public.t1') = 'public.t1'::regclass,
       londiste.find_seq_oid('public.t2_id_seq') = 'public.t2_id_seq'::regclass,
       londiste.find_rel_oid('public.nosuch', 'r') IS NULL;
SELECT * FROM londiste.local_show_missing('q');
