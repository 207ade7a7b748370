-- imagen 002: the tables the sinks write.

-- One row per image uploaded by the supabase-storage sink. storage_path is the image's object
-- name in the bucket: its owner's id, then the relative path imagen wrote on disk. The unique
-- (bucket, storage_path) is each row's claim on its object: no upload replaces another's.
CREATE TABLE IF NOT EXISTS imagen.images (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_user_id     uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    bucket            text NOT NULL DEFAULT 'imagen-generated',
    storage_path      text NOT NULL,
    prompt            text NOT NULL,
    negative_prompt   text,
    style             text,
    backend           text NOT NULL,
    model             text NOT NULL,
    seed              bigint,
    width             integer NOT NULL,
    height            integer NOT NULL,
    sha256            text NOT NULL,
    cost_usd_estimate numeric(12, 6),
    sidecar           jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT images_bucket_storage_path_key UNIQUE (bucket, storage_path)
);

-- One row per take written by the supabase-usage sink. The prompt is never stored, only its
-- sha256.
CREATE TABLE IF NOT EXISTS mai.imagen_usage (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    backend           text NOT NULL,
    model             text NOT NULL,
    seed              bigint,
    prompt_hash       text NOT NULL,
    latency_ms        integer,
    cost_usd_estimate numeric(12, 6),
    caller            text
);
