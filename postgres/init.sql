-- Databases and least-privilege roles of the platform, run once on a fresh PostgreSQL.
--
-- Run by postgres/initdb.sh (the container's /docker-entrypoint-initdb.d hook) through psql,
-- which passes every name and password as a psql variable — no password is written here.
-- Variables: source_db, analytics_db, mlflow_db (database names), source_role,
-- pipeline_role, reader_role, mlflow_role (role names) and *_password for each role.
--
-- Who may do what:
--   source_role   owns the source DB; sources_api creates and appends `transaction_data`.
--   pipeline_role reads the source DB (feeder), owns the analytics DB's tables (publish).
--   reader_role   reads the analytics DB only (datamarts API, Grafana's SQL panels).
--   mlflow_role   owns the MLflow tracking DB and nothing else.
-- Nobody else may even connect: CONNECT is revoked from PUBLIC on every database.

\set ON_ERROR_STOP on

CREATE ROLE :"source_role" LOGIN PASSWORD :'source_password';
CREATE ROLE :"pipeline_role" LOGIN PASSWORD :'pipeline_password';
CREATE ROLE :"reader_role" LOGIN PASSWORD :'reader_password';
CREATE ROLE :"mlflow_role" LOGIN PASSWORD :'mlflow_password';

CREATE DATABASE :"source_db" OWNER :"source_role";
CREATE DATABASE :"analytics_db" OWNER :"pipeline_role";
CREATE DATABASE :"mlflow_db" OWNER :"mlflow_role";

REVOKE ALL ON DATABASE :"source_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"analytics_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"mlflow_db" FROM PUBLIC;

GRANT CONNECT ON DATABASE :"source_db" TO :"pipeline_role";
GRANT CONNECT ON DATABASE :"analytics_db" TO :"reader_role";

-- Source DB: the source system writes, the pipeline only reads (now and for tables created later).
\connect :"source_db"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"source_role";
GRANT USAGE ON SCHEMA public TO :"pipeline_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"source_role" IN SCHEMA public
    GRANT SELECT ON TABLES TO :"pipeline_role";

-- Analytics DB: the pipeline publishes (replacing tables atomically), readers only select.
\connect :"analytics_db"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"pipeline_role";
GRANT USAGE ON SCHEMA public TO :"reader_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"pipeline_role" IN SCHEMA public
    GRANT SELECT ON TABLES TO :"reader_role";

\connect :"mlflow_db"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"mlflow_role";
