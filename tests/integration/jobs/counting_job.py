"""A stateful test job for tests/integration/test_flink_job.py: random keys 0..1 from datagen, a
running COUNT(*) per key (keyed state), each update written to an upsert-kafka topic as JSON
`{"k": 0, "cnt": 41, "tag": "v1"}`, at the parallelism given by `--parallelism`. The count is what a savepoint must carry over: after a restore
the count of a key continues from its last value instead of starting at 1 again. `tag` tells which
submission wrote a record.

Run by Flink's PythonDriver (in `.venv-flink`), never imported by the tests.
"""
from __future__ import annotations

import argparse
import logging

from pyflink.table import EnvironmentSettings, TableEnvironment


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--rows-per-second", default="10")
    parser.add_argument("--parallelism", help="the job's parallelism (default: the cluster's)")
    args = parser.parse_args()

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("execution.checkpointing.interval", "1 s")
    if args.parallelism:  # the job owns its parallelism, as flink_job/job.py does
        env.get_config().set("parallelism.default", args.parallelism)
    env.execute_sql(f"""
        CREATE TABLE ticks (
            k INT
        ) WITH (
            'connector'       = 'datagen',
            'rows-per-second' = {literal(args.rows_per_second)},
            'fields.k.min'    = '0',
            'fields.k.max'    = '1'
        )""")
    env.execute_sql(f"""
        CREATE TABLE counts (
            k   INT,
            cnt BIGINT,
            tag STRING,
            PRIMARY KEY (k) NOT ENFORCED
        ) WITH (
            'connector'                    = 'upsert-kafka',
            'topic'                        = {literal(args.topic)},
            'properties.bootstrap.servers' = {literal(args.bootstrap_servers)},
            'key.format'                   = 'json',
            'value.format'                 = 'json'
        )""")
    env.execute_sql(f"INSERT INTO counts SELECT k, COUNT(*) AS cnt, {literal(args.tag)} AS tag FROM ticks GROUP BY k")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
