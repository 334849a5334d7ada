-- Each registered experiment's latest status: the allow-list (known_only) reads it.
-- {source} is the quoted text of exptrace_known_experiments.source.sql. Rendered on one line.
(experiment_id String, status String)
PRIMARY KEY experiment_id
SOURCE(CLICKHOUSE(QUERY {source}))
LAYOUT(COMPLEX_KEY_HASHED())
LIFETIME(MIN 10 MAX 30)
