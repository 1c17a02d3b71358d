"""Starting a member as etcd's embed package does: the server, with the KV API served to clients.

The server itself knows nothing of gRPC (etcdserver never imports v3rpc); this is where the two
meet, as in etcd's `embed.StartEtcd`.
"""

from __future__ import annotations

from etcdcore.env import Env
from etcdcore.server.etcdserver import EtcdServer, ServerConfig, ServerMonitor
from etcdcore.server.v3rpc import KVServer

__all__ = ["new_member"]


def new_member(env: Env, cfg: ServerConfig, monitor: ServerMonitor | None = None) -> EtcdServer:
    """A member's server, answering clients' calls through v3rpc's KVServer (not yet started)."""
    server = EtcdServer(env, cfg, monitor)
    server.serve_grpc(KVServer(server).handle)
    return server
