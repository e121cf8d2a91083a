"""Exit 0 when PostgreSQL and Redis answer (creating the database if needed), else say why."""

import sys
from urllib.parse import urlsplit

import psycopg2
import redis
from psycopg2 import sql


def main(database_url, redis_url):
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    try:
        conn = psycopg2.connect(
            dbname="postgres",
            user=parts.username or "postgres",
            password=parts.password or None,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            connect_timeout=3,
        )
    except psycopg2.Error as exc:
        return f"PostgreSQL unreachable at {parts.hostname}:{parts.port or 5432}: {exc}".strip()
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis unreachable at {redis_url}: {exc}"
    return None


if __name__ == "__main__":
    problem = main(sys.argv[1], sys.argv[2])
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(1)
