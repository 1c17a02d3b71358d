"""etcd's v3 JSON gateway in front of a fresh one-member cluster in the simulation: requests in
order, each answered as the gateway writes it."""

from __future__ import annotations

from typing import Any

from etcdcore.api import gateway
from etcdcore.api.call import Call, Reply
from etcdcore.api.rpctypes import EtcdError
from etcdcore.embed import new_member
from etcdcore.env import Process
from etcdcore.server.etcdserver import EtcdServer, ServerConfig
from etcdcore.server.v3rpc import KVServer
from sim.world.node import NodeEnv
from sim.world.world import World

__all__ = ["METHODS", "serve"]

# The gateway's paths and the gRPC method each maps to.
METHODS = {"/v3/kv/range": "Range", "/v3/kv/put": "Put", "/v3/kv/deleterange": "DeleteRange",
           "/v3/kv/txn": "Txn", "/v3/kv/compaction": "Compact"}
_BOOT_LIMIT_US = 30_000_000
_REQUEST_LIMIT_US = 60_000_000
_STEP_US = 1_000


def _call(server: EtcdServer, call: Call, replies: list[Reply]) -> Process:
    replies.append((yield from KVServer(server).handle(call)))


def serve(requests: list[tuple[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Run the requests, in order, against a fresh one-member cluster; the gateway's answers."""
    servers: dict[int, EtcdServer] = {}
    config = ServerConfig(peers=(1,))

    def boot(env: NodeEnv) -> EtcdServer:
        server = new_member(env, config)  # type: ignore[arg-type]
        servers[env.node_id] = server
        server.start()
        return server

    world = World(seed, [1], boot)
    world.start_all()
    limit = world.now + _BOOT_LIMIT_US
    while not (servers[1].lead and servers[1].applied_index >= servers[1].committed_index):
        if world.now >= limit:
            raise RuntimeError("the one-member cluster elected no leader in 30 simulated s")
        world.run_until(world.now + _STEP_US)
    answers: list[dict[str, Any]] = []
    for n, (path, body) in enumerate(requests, start=1):
        try:
            req = gateway.request_from_json(path, body, config.max_txn_ops)
        except EtcdError as exc:
            answers.append(gateway.error_to_json(exc))
            continue
        server = servers[1]
        replies: list[Reply] = []
        server.env.spawn(_call(server, Call(n, METHODS[path], req), replies), "gateway")
        limit = world.now + _REQUEST_LIMIT_US
        while not replies and world.now < limit:
            world.run_until(world.now + _STEP_US)
        if not replies:
            raise RuntimeError(f"request {n} got no answer in 60 simulated s")
        reply = replies[0]
        if reply.error is not None:
            answers.append(gateway.error_to_json(reply.error))
        else:
            assert reply.response is not None
            answers.append(gateway.response_to_json(reply.response))
    return answers
