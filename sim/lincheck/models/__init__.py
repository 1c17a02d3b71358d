"""The models the checker knows, by the name a history file or the command line gives."""

from __future__ import annotations

from sim.lincheck.model import Model
from sim.lincheck.models.kv import KV
from sim.lincheck.models.register import CasRegister

__all__ = ["KV", "MODELS", "CasRegister"]

MODELS: dict[str, type[Model]] = {
    CasRegister.name: CasRegister,
    KV.name: KV,
    # "etcd": the etcd model from models/etcd.py goes here (import it above, add to __all__).
}
