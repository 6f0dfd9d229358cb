"""Settings other engines need to read a store's files themselves (``Snapshot.to_pyarrow_dataset``,
``dstore.spark``): the same environment dstore's own S3 client reads (docs/object-storage.md)."""

import os


def s3_settings() -> dict:
    """Endpoint, region and credentials from ``DSTORE_S3_ENDPOINT`` / ``AWS_ENDPOINT_URL``,
    ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN``: ``{"endpoint", "scheme", "region", "access_key", "secret_key",
    "session_token"}``, each ``None`` when unset (``scheme`` defaults to https)."""
    endpoint = os.environ.get("DSTORE_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    scheme = "https"
    if endpoint and "://" in endpoint:
        scheme, endpoint = endpoint.split("://", 1)
    return {
        "endpoint": endpoint.rstrip("/") if endpoint else None,
        "scheme": scheme,
        "region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        "access_key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY"),
        "session_token": os.environ.get("AWS_SESSION_TOKEN"),
    }


def s3_filesystem():
    """A ``pyarrow.fs.S3FileSystem`` set up from :func:`s3_settings` (path-style requests, as
    dstore sends them to an explicit endpoint)."""
    from pyarrow import fs

    s = s3_settings()
    kwargs = {"scheme": s["scheme"]}
    if s["endpoint"]:
        kwargs["endpoint_override"] = s["endpoint"]
    for ours, theirs in (("region", "region"), ("access_key", "access_key"),
                         ("secret_key", "secret_key"), ("session_token", "session_token")):
        if s[ours]:
            kwargs[theirs] = s[ours]
    return fs.S3FileSystem(**kwargs)


def commit_descriptions(store, descriptions, message, *, tags=None, sources=None, author=None,
                        check="footer"):
    """Commits prepare descriptions (``Prepared``, JSON text or files) made by an engine's
    tasks as one snapshot of the store at ``store``; returns the commit's outcome."""
    import dstore

    with dstore.Store.open(store).begin() as tx:
        for d in descriptions:
            tx.add_prepared(d, check=check)
        kwargs = {"tags": list(tags or []), "sources": [str(p) for p in (sources or [])]}
        if author is not None:
            kwargs["author"] = author
        return tx.commit(message, **kwargs)
