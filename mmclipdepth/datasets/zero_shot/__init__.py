"""Zero-shot transfer test sets (docs/zero_shot.md), each read from its release's own layout."""
from .ddad import DDADDataset
from .diml import DIMLIndoorDataset, DIMLOutdoorDataset
from .diode import DIODEDataset
from .hypersim import HyperSimDataset
from .ibims import IBims1Dataset
from .sun_rgbd import SUNRGBDDataset
from .vkitti2 import VKITTI2Dataset

__all__ = ['SUNRGBDDataset', 'IBims1Dataset', 'DIODEDataset', 'HyperSimDataset', 'DIMLIndoorDataset',
           'DIMLOutdoorDataset', 'VKITTI2Dataset', 'DDADDataset']
