"""Feed simulators: protocol-faithful MM API and Predexon servers on loopback, driven by one
deterministic market scenario, with fault injection and a ground truth to test against.
The wire shapes the specs leave open are documented in PROTOCOL.md beside this file."""

from mmstream.simulators.cluster import SimulatorCluster, run_simulators
from mmstream.simulators.config import FaultConfig, ScenarioConfig
from mmstream.simulators.ground_truth import GroundTruth

__all__ = ["FaultConfig", "GroundTruth", "ScenarioConfig", "SimulatorCluster", "run_simulators"]
