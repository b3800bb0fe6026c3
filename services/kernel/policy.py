"""Access policies declared on every endpoint. The default is deny.

A route handler declares ``opt={"policy": ...}``; the app-wide guard (identity.guards) refuses any
route without one, authenticates the bearer token and checks the policy. Finer checks (the case's
tenant, the transition's guard) happen in the services.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.kernel.actor import ActorKind

POLICY_KEY = "policy"


@dataclass(frozen=True, slots=True)
class Policy:
    public: bool = False
    kinds: frozenset[ActorKind] = frozenset()
    """Actor kinds admitted; empty with public=False admits nobody."""
    scopes: frozenset[str] = frozenset()
    """For API clients: every scope listed is required."""
    roles: frozenset[str] = frozenset()
    """For agents: at least one of these roles in at least one tenant (empty: any role)."""
    description: str = ""


PUBLIC = Policy(public=True, description="public")


def agents(*roles: str, description: str = "") -> Policy:
    return Policy(
        kinds=frozenset({ActorKind.AGENT}), roles=frozenset(roles), description=description
    )


def agents_or_clients(*scopes: str, roles: tuple[str, ...] = (), description: str = "") -> Policy:
    return Policy(
        kinds=frozenset({ActorKind.AGENT, ActorKind.API_CLIENT}),
        scopes=frozenset(scopes),
        roles=frozenset(roles),
        description=description,
    )


def policy_opt(policy: Policy) -> dict[str, Policy]:
    return {POLICY_KEY: policy}


def persons(description: str = "") -> Policy:
    """Signed-in people (citizens, business staff): what they see is filtered by the services."""
    return Policy(kinds=frozenset({ActorKind.PERSON}), description=description)


def anyone_signed_in(*scopes: str, roles: tuple[str, ...] = (), description: str = "") -> Policy:
    """Agents (any role unless ``roles``), API clients (with ``scopes``) and people."""
    return Policy(
        kinds=frozenset({ActorKind.AGENT, ActorKind.API_CLIENT, ActorKind.PERSON}),
        scopes=frozenset(scopes),
        roles=frozenset(roles),
        description=description,
    )
