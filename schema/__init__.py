"""Strawberry types, inputs and enums (graphql_api assembles them into the Schema)."""
