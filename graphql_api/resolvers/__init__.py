"""Resolvers: they translate between GraphQL and the core (commands, views), and call nothing else."""
from graphql_api.resolvers.mutations import mutation
from graphql_api.resolvers.queries import query
from graphql_api.resolvers.types import bindables as type_bindables
from graphql_api.resolvers.webhooks import bindables as webhook_bindables

bindables = [query, mutation, *type_bindables, *webhook_bindables]

__all__ = ["bindables"]
