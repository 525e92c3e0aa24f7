"""The website collector: HTTP in, Avro `pageviews` v2 out to Kafka through the Schema Registry,
and the first-party tracker script (static/tracker.js) plus a small demo site.

    settings.py  every setting, read from COLLECTOR_* environment variables (the stack renders them)
    enrich.py    the pure per-event pipeline: validate, allowlist, bots, user agent, referrer/UTM,
                 visitor id, event time
    sink.py      the Kafka producer behind a bounded queue (503 when full, never a blocking produce)
    app.py       the Starlette application: endpoints, CORS, body limit, rate limit, metrics
    register.py  sets the subject's compatibility and registers v2 (the stack's step, never the
                 collector's: it runs with auto.register.schemas=false)

Run: `python -m collector` (uvicorn on COLLECTOR_LISTEN_HOST:COLLECTOR_LISTEN_PORT).
"""
