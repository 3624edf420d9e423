"""The baseline: a bare aiohttp handler that reads a JSON POST and answers.

Every ingest figure is a ratio to this, measured in the same run on the same machine.
"""

from __future__ import annotations

import sys

import orjson
from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    return web.Response(
        status=202,
        body=orjson.dumps({"status": "stored", "run_id": body.get("execution_id")}),
        content_type="application/json",
    )


def main() -> None:
    app = web.Application()
    app.router.add_post("/telemetry", accept)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
