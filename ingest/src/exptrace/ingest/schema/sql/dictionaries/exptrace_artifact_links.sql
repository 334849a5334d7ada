-- Each (experiment, variant)'s artifacts in the registry (model version, image, commit...): the
-- tables' Artifacts column reads it. {source} is the quoted text of
-- exptrace_artifact_links.source.sql. Rendered on one line.
(experiment_id String, variant String, artifacts Map(String, String))
PRIMARY KEY experiment_id, variant
SOURCE(CLICKHOUSE(QUERY {source}))
LAYOUT(COMPLEX_KEY_HASHED())
LIFETIME(MIN 10 MAX 30)
