"""The Schema object: the root types merged from the resolvers, behind the request guards."""

from __future__ import annotations

import strawberry
from strawberry.tools import merge_types

from graphql_api.guards import RequestGuards
from resolvers.analytics import AnalyticsQuery
from resolvers.reports import ReportMutation
from resolvers.runs import RunQuery
from resolvers.subscriptions import RunSubscription
from service.settings import Settings


def build_schema(settings: Settings) -> strawberry.Schema:
    query = merge_types("Query", (RunQuery, AnalyticsQuery))
    mutation = merge_types("Mutation", (ReportMutation,))
    subscription = merge_types("Subscription", (RunSubscription,))
    guards = RequestGuards(
        max_tokens=settings.graphql_max_tokens,
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
    )
    return strawberry.Schema(
        query=query, mutation=mutation, subscription=subscription, extensions=[guards]
    )
