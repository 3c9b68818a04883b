"""One entry for the demos: a config (+ checkpoint) or an exported ``.onnx`` model. It sits above both
``inference`` and ``onnx_depth_model`` (which imports ``inference``), so neither imports the other back."""
from typing import Optional

from .inference import init_depth_model
from .onnx_depth_model import OnnxDepthModel

__all__ = ['load_depth_model']


def load_depth_model(model: str, checkpoint: Optional[str] = None, **kwargs):
    """A config (+ checkpoint) through ``init_depth_model``, or an exported ``.onnx`` file (its JSON beside it)
    through ``OnnxDepthModel``: the demos take either, and ``inference_depth`` runs both."""
    if str(model).endswith('.onnx'):
        if checkpoint is not None:
            raise ValueError(f'{model} is an exported model (its weights are in it): give no checkpoint')
        return OnnxDepthModel(str(model))
    return init_depth_model(model, checkpoint, **kwargs)
