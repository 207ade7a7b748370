-- imagen 005: grants. PostgREST runs each request as anon, authenticated or service_role; RLS
-- (004) then narrows what authenticated sees. anon (no signed-in user) reads nothing of imagen,
-- so it gets nothing, not even USAGE on the schema.
GRANT USAGE ON SCHEMA imagen TO authenticated, service_role;
GRANT USAGE ON SCHEMA mai TO service_role;

REVOKE ALL ON imagen.images FROM anon, authenticated;
GRANT SELECT ON imagen.images TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON imagen.images TO service_role;

REVOKE ALL ON mai.imagen_usage FROM anon, authenticated;
GRANT SELECT, INSERT ON mai.imagen_usage TO service_role;
