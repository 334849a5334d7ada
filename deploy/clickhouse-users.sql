-- Least privilege on a ClickHouse server: receivers write, the query layer only reads.
CREATE USER IF NOT EXISTS exptrace_ingest IDENTIFIED WITH sha256_password BY 'change-me';
GRANT CREATE TABLE, CREATE VIEW, CREATE DICTIONARY, DROP VIEW, INSERT, SELECT, SYSTEM RELOAD DICTIONARY
    ON otel.* TO exptrace_ingest;

CREATE USER IF NOT EXISTS exptrace_query IDENTIFIED WITH sha256_password BY 'change-me'
    SETTINGS readonly = 2;
GRANT SELECT, dictGet ON otel.* TO exptrace_query;
-- Registry writes (create/start/stop experiments) go through the receiver's HTTP API, which
-- uses the ingest user; give exptrace_query INSERT on otel.exptrace_experiments and
-- otel.exptrace_audit only if the query layer runs on its own.
