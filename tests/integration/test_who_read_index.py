"""Who-read's index (the audit query's secret/time one): made on older stores, and used."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from infrastructure.accessstore.store import SqlAccessStore, sqlite_engine
from infrastructure.accessstore.whoread import SqlSecretReads
from infrastructure.settings import Settings

INDEX = "kl_access_records_secret_id_time"


def engine_for(settings: Settings) -> Engine:
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True)
        return sqlite_engine(Path(settings.data_dir) / "access.sqlite")
    return create_engine(settings.state_db_url())


def indexes(engine: Engine) -> set[str]:
    return {str(i["name"]) for i in inspect(engine).get_indexes("kl_access_records")}


def test_an_older_store_gets_the_index_and_who_read_uses_it(settings: Settings) -> None:
    engine = engine_for(settings)
    try:
        SqlAccessStore(engine, None)  # the tables, as every start makes them
        with engine.begin() as conn:
            conn.execute(text(f"DROP INDEX {INDEX}"))  # as a store made before it
        assert INDEX not in indexes(engine)
        SqlAccessStore(engine, None)  # the next start
        SqlAccessStore(engine, None)  # a second process starting: no error
        reads = SqlSecretReads(engine)
        assert INDEX in indexes(engine)
        assert reads.tally("sk_aaaaaaaaaa", 0, 2**62) == []
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                plan = " ".join(
                    str(row[-1])
                    for row in conn.execute(
                        text(
                            "EXPLAIN QUERY PLAN SELECT machine_id, count(*) FROM kl_access_records"
                            " WHERE secret_id = 'x' AND timestamp_ms BETWEEN 1 AND 2"
                            " AND action = 'secret_read' GROUP BY machine_id"
                        )
                    )
                )
            assert INDEX in plan, plan
    finally:
        engine.dispose()
