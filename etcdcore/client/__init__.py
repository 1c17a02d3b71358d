"""etcd's client side: a KV client with the Go client's failover and retry rules."""

from .client import DEADLINE_EXCEEDED, Client, ClientConfig, outcome_known

__all__ = ["DEADLINE_EXCEEDED", "Client", "ClientConfig", "outcome_known"]
