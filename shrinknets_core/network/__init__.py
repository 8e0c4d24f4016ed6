"""The network: its spec, the switch layers β, the ShrinkNet model and what a neuron costs.

``build_model(spec)`` builds a :class:`ShrinkNet` (MLP or CNN) with one switch after every
hidden layer (and optionally on the inputs); the model carries its removal log
(:class:`RemovalRecord`). ``neuron_prices`` weighs each neuron's |β| by the parameters or
MACs it carries, for the priced penalty.
"""

from shrinknets_core.network._groups import RemovalGroup, RemovalRecord
from shrinknets_core.network._spec import ACTIVATIONS, ModelSpec
from shrinknets_core.network.models import ShrinkNet, build_model
from shrinknets_core.network.pricing import PENALTY_WEIGHTS, neuron_prices
from shrinknets_core.network.switches import InputSwitch, Switch, SwitchInit

__all__ = [
    "ACTIVATIONS",
    "PENALTY_WEIGHTS",
    "InputSwitch",
    "ModelSpec",
    "RemovalGroup",
    "RemovalRecord",
    "ShrinkNet",
    "Switch",
    "SwitchInit",
    "build_model",
    "neuron_prices",
]
