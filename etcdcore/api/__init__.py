"""etcd v3's client API: requests and responses, the errors clients see, the JSON gateway form."""

from . import gateway, rpc, rpctypes

__all__ = ["gateway", "rpc", "rpctypes"]
