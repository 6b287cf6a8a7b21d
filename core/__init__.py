"""The framework-agnostic heart of the gateway: domain, services and ports.

Nothing in this package imports a web framework, an ORM, an SDK or an imaging library;
`adapters/` implements the ports and the facades call the services.
"""
