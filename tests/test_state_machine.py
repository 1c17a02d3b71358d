"""The hypothesis state machine over an etcd cluster: safe and linearizable under any rules."""

from __future__ import annotations

from hypothesis import settings

from sim.state_machine import EtcdStateMachine

TestEtcdStateMachine = EtcdStateMachine.TestCase
# Few examples here (each is a whole cluster); HYPOTHESIS_PROFILE=fuzz or HypoFuzz run many.
TestEtcdStateMachine.settings = settings(settings.default, max_examples=min(
    settings.default.max_examples, 10), stateful_step_count=15)
