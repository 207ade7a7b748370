-- imagen 001: the schemas. imagen holds the image records, mai the usage log.
CREATE SCHEMA IF NOT EXISTS imagen;
CREATE SCHEMA IF NOT EXISTS mai;
