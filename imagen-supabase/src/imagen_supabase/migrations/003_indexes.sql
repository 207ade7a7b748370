-- imagen 003: indexes for the ways the tables are read (newest first, per owner, per caller).
CREATE INDEX IF NOT EXISTS images_created_at_idx ON imagen.images (created_at DESC);
CREATE INDEX IF NOT EXISTS images_owner_created_at_idx ON imagen.images (owner_user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS imagen_usage_created_at_idx ON mai.imagen_usage (created_at DESC);
CREATE INDEX IF NOT EXISTS imagen_usage_caller_idx ON mai.imagen_usage (caller);
