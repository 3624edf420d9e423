"""The guards on every GraphQL request, as one Strawberry extension on its public hooks.

They do what MaxTokensLimiter, AddValidationRules (QueryDepthLimiter, MaxAliasesLimiter),
ParserCache, ValidationCache and MaskErrors would, in that order. Strawberry wraps every
hook of every extension in fresh context managers on each request, which for those five
costs more than their work; as one extension they cost three hooks (and one per result a
subscription streams). Only public hooks and ExecutionContext attributes are used, so an
upgrade that changes Strawberry's internals cannot silently switch a guard off.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, parse, specified_rules
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry import Schema
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.types import ExecutionResult, StreamExecutionResult

Rules = tuple[type[ASTValidationRule], ...]

MASKED_MESSAGE = "Unexpected error."


def is_unexpected(error: GraphQLError) -> bool:
    """Mask crashes (their text may leak internals); keep errors we raise on purpose."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def mask_unexpected(errors: list[GraphQLError]) -> list[GraphQLError]:
    """MaskErrors' anonymisation: the message replaced, the location and path kept."""
    return [
        GraphQLError(
            MASKED_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
        )
        if is_unexpected(error)
        else error
        for error in errors
    ]


class _Parsed:
    """A parsed document and, once validated, its validation errors and the schema
    they were found against."""

    __slots__ = ("document", "errors", "schema")

    def __init__(self, document: DocumentNode) -> None:
        self.document = document
        self.schema: Schema | None = None
        self.errors: list[GraphQLError] = []


class RequestGuards:
    """One schema's limits and caches; Strawberry calls it for each request's extension.

    Build one per schema: the caches assume a single token limit and rule tuple. The
    depth and alias rule classes are made here, once: made per request they would be
    new classes each time, and no validation result could be reused.
    """

    def __init__(
        self, *, max_tokens: int, max_depth: int, max_aliases: int, cache_size: int = 128
    ) -> None:
        self.max_tokens = max_tokens
        self.limits: Rules = (
            *QueryDepthLimiter(max_depth=max_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
        )
        self.default_rules: Rules = tuple(specified_rules)
        # One tuple object for every request, so a cached validation is recognised by
        # the identity of the rules it ran with.
        self.rules: Rules = self.default_rules + self.limits
        # Keyed by the query text, whose hash Python computes once per string; the
        # validation result rides on the entry, so a hit costs no hashing of the
        # document tree (what made ValidationCache cost most of a validation).
        self.parsed = lru_cache(maxsize=cache_size)(self._parse)
        self.parses = 0  # documents parsed and validations run, for tests and debugging
        self.validations = 0

    def __call__(self) -> SchemaExtension:
        return _GuardExtension(self)

    def _parse(self, query: str) -> _Parsed:
        self.parses += 1
        return _Parsed(parse(query, max_tokens=self.max_tokens))

    def rules_for(self, rules: Rules) -> Rules:
        """AddValidationRules: the limits after whatever rules the request has."""
        if rules is self.default_rules or rules == self.default_rules:
            return self.rules
        return rules + self.limits


class _GuardExtension(SchemaExtension):
    """One request's guards (Strawberry makes an extension per request)."""

    def __init__(self, guards: RequestGuards) -> None:
        self.guards = guards
        self.parsed: _Parsed | None = None
        self.streamed = False

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = self.guards.rules_for(context.validation_rules)
        yield
        # A stream's results were masked one by one (on_stream_result).
        result = context.result
        if (
            not self.streamed
            and isinstance(result, (ExecutionResult, GraphQLExecutionResult))
            and result.errors
        ):
            result.errors = mask_unexpected(result.errors)

    def on_parse(self) -> Iterator[None]:
        """ParserCache with the token limit. A syntax error, or a document over the
        limit, raises a GraphQLError here, which Strawberry answers as its own parse's."""
        context = self.execution_context
        if context.query is not None:
            self.parsed = self.guards.parsed(context.query)
            context.graphql_document = self.parsed.document
        yield

    def on_validate(self) -> Iterator[None]:
        """ValidationCache: a document validated once against this schema and rule
        tuple is not validated again; Strawberry validates the others, and the result
        is kept after it did."""
        context = self.execution_context
        parsed = self.parsed
        if (
            parsed is None
            or parsed.document is not context.graphql_document
            or context.validation_rules is not self.guards.rules
            or context.pre_execution_errors is not None
        ):
            parsed = None  # not ours to reuse or to keep
        elif parsed.schema is context.schema:
            context.pre_execution_errors = parsed.errors
            yield
            return
        if context.pre_execution_errors is None:
            self.guards.validations += 1
        yield
        if parsed is not None and context.pre_execution_errors is not None:
            parsed.errors = context.pre_execution_errors
            parsed.schema = context.schema

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """MaskErrors on each result a subscription streams. (The incremental frames
        of @defer/@stream do not occur: the schema does not enable them.)"""
        self.streamed = True
        if isinstance(result, ExecutionResult) and result.errors:
            result.errors = mask_unexpected(result.errors)
        yield
