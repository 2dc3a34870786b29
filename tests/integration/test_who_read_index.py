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
    finally:
        engine.dispose()


def test_who_read_takes_the_secret_index_whatever_order_the_indexes_were_made(
    tmp_path: Path,
) -> None:
    """No statistics, so SQLite's planner rates (secret, time) and (action, time) alike
    and the order the indexes were made in breaks the tie (a set's order: it varies
    between processes). With the (action, time) index made last, the real query over the
    widest window still takes the secret's index, not the one walking every read."""
    engine = sqlite_engine(tmp_path / "access.sqlite")
    try:
        SqlAccessStore(engine, None)
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX kl_access_records_action_time"))
            conn.execute(
                text(
                    "CREATE INDEX kl_access_records_action_time ON kl_access_records"
                    " (action, timestamp_ms)"
                )
            )
        statement = SqlSecretReads.query("sk_aaaaaaaaaa", 0, 2**62)
        sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
        assert INDEX in plan, plan
    finally:
        engine.dispose()
