-- with: incident_scope
-- How many requests an incident's scope holds, tagged or not, and how many of them failed:
-- zero requests means there is nothing to attribute (a quiet window, or a service or route
-- that sent nothing), which is no verdict.
SELECT count() AS requests, countIf(failed) AS errors FROM scoped
