-- Least privilege on a ClickHouse server: receivers write, the query layer only reads.
CREATE USER IF NOT EXISTS exptrace_ingest IDENTIFIED WITH sha256_password BY 'change-me';
-- Schema changes only add (columns, indexes) or alter in place (column defaults, TTL, the
-- materialized views' queries); nothing is dropped. SQL functions (the redaction and
-- nested-value functions the views use, named exptrace_<database>_*) are server-wide, as is
-- reloading a dictionary.
GRANT CREATE TABLE, CREATE VIEW, CREATE DICTIONARY, DROP VIEW, ALTER ADD COLUMN,
    ALTER MODIFY COLUMN, ALTER ADD INDEX, ALTER TTL, ALTER VIEW MODIFY QUERY, INSERT, SELECT,
    dictGet ON otel.* TO exptrace_ingest;
GRANT CREATE FUNCTION, DROP FUNCTION, SYSTEM RELOAD DICTIONARY ON *.* TO exptrace_ingest;

CREATE USER IF NOT EXISTS exptrace_query IDENTIFIED WITH sha256_password BY 'change-me'
    SETTINGS readonly = 2;
GRANT SELECT, dictGet ON otel.* TO exptrace_query;
-- Registry writes (create/start/stop/rollback experiments, freeze, decisions) go through the
-- receiver's HTTP API, which uses the ingest user; give exptrace_query INSERT on
-- otel.exptrace_experiments, otel.exptrace_audit, otel.exptrace_freezes and
-- otel.exptrace_decisions only if the query layer runs on its own.
