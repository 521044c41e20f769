"""The framework's ceiling: a bare FastAPI "hello world", served like ``docmemo serve``.

``python -m bench.hello --port P --workers 2`` runs uvicorn with the very options of
``docmemo serve`` (uvloop, httptools, the service's log configuration, its access log
on or off as DOCMEMO_ACCESS_LOG says, the same graceful shutdown), so the only
difference left is the application.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


def main() -> None:
    import uvicorn

    from docmemo.config import Settings
    from docmemo.web.logging import log_config

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    uvicorn.run(
        "bench.hello:app",
        app_dir=str(Path(__file__).resolve().parents[1]),
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config(),
        access_log=Settings(_env_file=None).access_log,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
