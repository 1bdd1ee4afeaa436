"""A faithful loopback stand-in for the SMS Partner API v1 (see docs/simulator.md).

Imports nothing from other ``etl`` modules, so it cannot share a bug with the client.

    from etl.simulator import Simulator, SimulatorServer
    sim = Simulator(api_key="sim-key-0123", seed=42)
    with SimulatorServer(sim) as server:
        ...  # point the client at server.base_url
"""

from .clock import SimClock
from .codes import ApiFailure
from .core import Call, Event, Simulator
from .faults import KINDS as FAULT_KINDS
from .faults import Fault, FaultInjector
from .quirks import Quirks
from .server import SimulatorServer

__all__ = [
    "FAULT_KINDS",
    "ApiFailure",
    "Call",
    "Event",
    "Fault",
    "FaultInjector",
    "Quirks",
    "SimClock",
    "Simulator",
    "SimulatorServer",
]
