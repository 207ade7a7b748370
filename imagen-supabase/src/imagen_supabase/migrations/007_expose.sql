-- imagen 007: expose the imagen and mai schemas through PostgREST (the REST API the sinks
-- use), keeping every schema already exposed, then tell PostgREST to reload its config.
-- Without this step the API answers PGRST106 "The schema must be one of the following".
DO $$
DECLARE
    current_list text;
    schemas text[];
    wanted text;
BEGIN
    SELECT split_part(setting, '=', 2) INTO current_list
    FROM pg_db_role_setting AS s
    JOIN pg_roles AS r ON r.oid = s.setrole AND s.setdatabase = 0,
         unnest(s.setconfig) AS setting
    WHERE r.rolname = 'authenticator' AND setting LIKE 'pgrst.db_schemas=%';

    schemas := array_remove(
        string_to_array(replace(coalesce(current_list, 'public, graphql_public'), ' ', ''), ','),
        ''
    );
    FOREACH wanted IN ARRAY ARRAY['imagen', 'mai'] LOOP
        IF NOT wanted = ANY (schemas) THEN
            schemas := schemas || wanted;
        END IF;
    END LOOP;
    EXECUTE format(
        'ALTER ROLE authenticator SET pgrst.db_schemas = %L', array_to_string(schemas, ', ')
    );
END
$$;

NOTIFY pgrst, 'reload config';
