-- imagen 008: take back what the API roles were never meant to have. 005 used to give anon
-- USAGE on schema imagen; and a project may grant rights on everything new to the API roles
-- (ALTER DEFAULT PRIVILEGES ... TO anon, authenticated), which the schemas of 001 and the
-- tables of 002 then inherited. Only the grants of 005 remain: authenticated reads
-- imagen.images (narrowed by RLS), service_role writes both tables. Safe to run again.
REVOKE ALL ON SCHEMA imagen FROM anon, PUBLIC;
REVOKE CREATE ON SCHEMA imagen FROM authenticated;
REVOKE ALL ON SCHEMA mai FROM anon, authenticated, PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA imagen FROM anon, PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA mai FROM anon, authenticated, PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA imagen, mai FROM anon, authenticated, PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA imagen, mai FROM anon, authenticated, PUBLIC;
