"""The use cases, one module each: a command in, the domain applied in one transaction, events out.

Each handler takes its command and the `Deps` (core/dependencies.py); `core/messagebus.py` says which
handler serves which command, and which run once the events of a commit are published.
"""
