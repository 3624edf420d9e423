"""The Schema object: root types merged from the resolvers, plus the guards on every query."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
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


_Rules = tuple[type[ASTValidationRule], ...]

# Strawberry's shared LRU caches of parsed and of validated documents (the ones every
# ParserCache and ValidationCache with the default size use).
_CACHED_PARSE = ParserCache().cached_parse_document
_CACHED_VALIDATE = ValidationCache().cached_validate_document
# (id(schema), id(document), rules) -> (schema, document, validation errors)
_VALIDATED: dict[tuple[int, int, _Rules], tuple[object, object, list[GraphQLError]]] = {}
_MAX_VALIDATED = 128


class _Guards(MaskErrors):
    """Every per-request extension as one: the token limit, the depth and alias rules,
    the parser and validation caches, and error masking.

    Strawberry wraps each hook of each extension in fresh context managers on every
    request, which for five small extensions cost more than their work; as one they
    cost three hooks. The effect is that of MaxTokensLimiter, AddValidationRules,
    ParserCache, ValidationCache and MaskErrors in that order, with the same caches.
    """

    def __init__(self, max_tokens: int, rules: _Rules) -> None:
        super().__init__(should_mask_error=_is_unexpected)
        self.max_tokens = max_tokens
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.max_tokens
        context.validation_rules = context.validation_rules + self.rules
        yield from super().on_operation()

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.graphql_document = _CACHED_PARSE(context.query, **context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        """ValidationCache, looked up by the document's identity first.

        The parser cache hands every request with the same query text the same document
        object, while ValidationCache's key hashes that whole document tree on every
        request, which costs most of a cached validation. Each entry here holds its
        schema and document, so their ids cannot be reused while it exists.
        """
        context = self.execution_context
        schema = context.schema._schema
        document = context.graphql_document
        key = (id(schema), id(document), context.validation_rules)
        entry = _VALIDATED.get(key)
        if entry is not None and entry[0] is schema and entry[1] is document:
            errors = entry[2]
        else:
            errors = _CACHED_VALIDATE(schema, document, context.validation_rules)
            if len(_VALIDATED) >= _MAX_VALIDATED:
                _VALIDATED.clear()
            _VALIDATED[key] = (schema, document, errors)
        context.pre_execution_errors = errors
        yield

    def _process_result(self, result: object) -> None:
        # MaskErrors asks isinstance(result, <runtime Protocol with "errors">), which
        # inspects the protocol on every request; this is the same test.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


def build_schema(settings: Settings) -> strawberry.Schema:
    query = merge_types("Query", (RunQuery, AnalyticsQuery))
    mutation = merge_types("Mutation", (ReportMutation,))
    subscription = merge_types("Subscription", (RunSubscription,))
    # The limiters' rule classes are made once: built per request they would be new
    # classes each time, and the validation cache (keyed by the rules) would never hit.
    guard_rules = (
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    )
    return strawberry.Schema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        extensions=[
            lambda: _Guards(settings.graphql_max_tokens, guard_rules),
        ],
    )
