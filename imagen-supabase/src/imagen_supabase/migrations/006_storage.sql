-- imagen 006: the private bucket, and who may read its objects: the owner of the matching
-- imagen.images row (uploads come from the service role, which bypasses these policies).
INSERT INTO storage.buckets (id, name, public)
VALUES ('imagen-generated', 'imagen-generated', false)
ON CONFLICT (id) DO NOTHING;

DROP POLICY IF EXISTS "imagen owners read their images" ON storage.objects;
CREATE POLICY "imagen owners read their images" ON storage.objects
    FOR SELECT TO authenticated
    USING (
        bucket_id = 'imagen-generated'
        AND EXISTS (
            SELECT 1 FROM imagen.images AS image
            WHERE image.bucket = storage.objects.bucket_id
              AND image.storage_path = storage.objects.name
              AND image.owner_user_id = (SELECT auth.uid())
        )
    );
