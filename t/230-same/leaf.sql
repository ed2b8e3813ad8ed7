-- Calls on a leaf, run on ours and on the original (t/230).
\set VERBOSITY terse
SELECT * FROM pgq_node.register_location('q', 'root', 'dbname=x', false);
SELECT * FROM pgq_node.register_location('q', 'lf', 'dbname=z', false);
SELECT ret_code FROM pgq_node.create_node('q', 'leaf', 'lf', 'w_lf', 'root', 1, NULL);
CREATE TABLE t1 (id int PRIMARY KEY, v text);
SELECT * FROM londiste.global_add_table('q', 't1');
SELECT * FROM londiste.local_add_table('q', 't1', array['ev_extra4=1']);
SELECT tgname, tgfoid::regproc, encode(tgargs, 'escape'), tgtype FROM pg_trigger
 WHERE tgrelid = 't1'::regclass ORDER BY 1, 3;
SELECT * FROM londiste.get_table_list('q');
SELECT * FROM londiste.local_remove_table('q', 't1');
SELECT * FROM londiste.local_add_table('q', 't1', array['tgflags=BI', 'skip']);
SELECT tgname, tgfoid::regproc, encode(tgargs, 'escape'), tgtype FROM pg_trigger
 WHERE tgrelid = 't1'::regclass ORDER BY 1, 3;
SELECT * FROM londiste.local_add_table('q', 't1', array['tgflags=A']);
SELECT * FROM londiste.local_add_table('q', 't1', array['expect_sync', 'virtual_table']);
