-- imagen 004: row-level security. A signed-in user reads only the images they own; nobody but
-- the service role (which bypasses RLS) writes. The usage log has no policy at all: only the
-- service role reads or writes it.
ALTER TABLE imagen.images ENABLE ROW LEVEL SECURITY;
ALTER TABLE mai.imagen_usage ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "owner can read own images" ON imagen.images;
CREATE POLICY "owner can read own images" ON imagen.images
    FOR SELECT TO authenticated
    USING (owner_user_id = (SELECT auth.uid()));
