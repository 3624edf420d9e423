"""Reading runs back: ``run(id)`` and the ``runs`` connection."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from resolvers.context import Context
from resolvers.filters import to_storage_filter
from schema.filters import RunFilter
from schema.runs import PageInfo, Run, RunConnection, RunEdge
from storage.analytics.filters import run_conditions
from storage.reads.runs import encode_cursor, get_run, list_runs

MAX_PAGE = 500


@strawberry.type
class RunQuery:
    @strawberry.field(description="One run by id (execution_id, random_id, or update:<id>).")
    async def run(self, info: strawberry.Info[Context, None], id: strawberry.ID) -> Run | None:
        context = info.context
        row = await get_run(context.database.reader, run_id=str(id))
        return None if row is None else Run.from_row(row, context.now, context.unfinished_after)

    @strawberry.field(description=f"Runs, newest first; first is at most {MAX_PAGE}.")
    async def runs(
        self,
        info: strawberry.Info[Context, None],
        filter: RunFilter | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> RunConnection:
        if not 0 <= first <= MAX_PAGE:
            raise GraphQLError(f"first must be between 0 and {MAX_PAGE}, got {first}")
        context = info.context
        where = run_conditions(to_storage_filter(filter), context.cutoff)
        try:
            page = await list_runs(context.database.reader, first=first, after=after, where=where)
        except ValueError as exc:
            raise GraphQLError(f"after: {exc}") from exc
        edges = [
            RunEdge(
                cursor=encode_cursor(row),
                node=Run.from_row(row, context.now, context.unfinished_after),
            )
            for row in page.rows
        ]
        return RunConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
            total_count=page.total,
        )
