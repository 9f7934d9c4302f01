"""``veritag simulate``: a synthetic market run through the real API on the embedded chain.

``market`` builds the chain side, ``attacks`` decides who lists what (with the ground
truth), ``run`` drives the API through one simulated day, ``report`` turns it into figures.
"""

from veritag.simulate.report import SimulationReport, build_report, render
from veritag.simulate.run import Simulation, SimulationParams, run_simulation

__all__ = [
    "Simulation",
    "SimulationParams",
    "SimulationReport",
    "build_report",
    "render",
    "run_simulation",
]
