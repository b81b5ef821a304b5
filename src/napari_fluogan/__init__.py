"""napari-fluogan: super-resolution from fluctuation stacks with FluoGAN."""

from .core.config import FluoGANConfig
from .core.dark import DarkCalibration
from .core.errors import FluoGANError, ReconstructionDiverged
from .core.solver import Snapshot, reconstruct, reconstruct_iter
from .core.stack import Stack

__all__ = [
    "DarkCalibration",
    "FluoGANConfig",
    "FluoGANError",
    "ReconstructionDiverged",
    "Snapshot",
    "Stack",
    "reconstruct",
    "reconstruct_iter",
]
__version__ = "0.1.0"
