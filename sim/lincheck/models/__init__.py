"""The models the checker knows, by the name a history file or the command line gives."""

from __future__ import annotations

from sim.lincheck.model import Model
from sim.lincheck.models.etcd import EtcdModel
from sim.lincheck.models.kv import KV
from sim.lincheck.models.register import CasRegister

__all__ = ["KV", "MODELS", "CasRegister", "EtcdModel"]

MODELS: dict[str, type[Model]] = {
    CasRegister.name: CasRegister,
    KV.name: KV,
    EtcdModel.name: EtcdModel,
}
