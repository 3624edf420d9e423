"""``installstats serve | migrate | seed | rebuild-rollups``: settings come from
INSTALLSTATS_* variables."""

from __future__ import annotations

import argparse
import asyncio

from cli import seed
from service.logs import configure_logging
from service.settings import Settings
from storage.engine import open_database
from storage.migrate import upgrade_to_head


async def _migrate(settings: Settings) -> None:
    database = open_database(settings.database_url)
    try:
        await upgrade_to_head(database.writer)
    finally:
        await database.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="installstats", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the HTTP server (applies pending migrations first)")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    seed.add_commands(commands)
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level)
    if args.command == "serve":
        import server

        server.main()
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
    else:
        seed.run_command(args, settings)


if __name__ == "__main__":
    main()
