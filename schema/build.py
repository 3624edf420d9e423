"""The Schema object: root types merged from the resolvers, plus the guards on every query."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.tools import merge_types

from resolvers.analytics import AnalyticsQuery
from resolvers.reports import ReportMutation
from resolvers.runs import RunQuery
from resolvers.subscriptions import RunSubscription
from service.settings import Settings


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask crashes (their text may leak internals); keep errors we raise on purpose."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def build_schema(settings: Settings) -> strawberry.Schema:
    query = merge_types("Query", (RunQuery, AnalyticsQuery))
    mutation = merge_types("Mutation", (ReportMutation,))
    subscription = merge_types("Subscription", (RunSubscription,))
    # The limiters' rule classes are made once: built per request they would be new
    # classes each time, and the validation cache (keyed by the rules) would never hit.
    guard_rules = [
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    ]
    return strawberry.Schema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            lambda: AddValidationRules(guard_rules),
            ParserCache,
            ValidationCache,
            lambda: MaskErrors(should_mask_error=_is_unexpected),
        ],
    )
