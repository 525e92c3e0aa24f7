"""Test jobs that cannot start, for the failure paths of tests/integration/test_flink_job.py.

`--fail-at submit`: the Python program raises before it builds a job (Flink's REST answer only says
"Python process exits with code: 1"; the cause is in the JobManager log).
`--fail-at runtime`: the job is submitted, then its tasks fail on the first record (a CAST of a
non-numeric string), and without checkpointing Flink does not restart it: the job ends FAILED.

Run by Flink's PythonDriver (in `.venv-flink`), never imported by the tests.
"""
from __future__ import annotations

import argparse

from pyflink.table import EnvironmentSettings, TableEnvironment

SUBMIT_ERROR = "the test job refuses to build its pipeline"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-at", choices=("submit", "runtime"), required=True)
    args = parser.parse_args()
    if args.fail_at == "submit":
        raise RuntimeError(SUBMIT_ERROR)
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.execute_sql("""
        CREATE TABLE words (
            w STRING
        ) WITH (
            'connector'         = 'datagen',
            'rows-per-second'   = '5',
            'fields.w.length'   = '6'
        )""")
    env.execute_sql("CREATE TABLE sink (n INT) WITH ('connector' = 'blackhole')")
    env.execute_sql("INSERT INTO sink SELECT CAST(CONCAT('x', w) AS INT) FROM words")


if __name__ == "__main__":
    main()
