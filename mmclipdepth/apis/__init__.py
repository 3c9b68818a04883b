from .. import _guard  # noqa: F401  (first: refuses a shadowed, empty mmclipdepth package)
from .depth_outputs import (backproject_depth, colorize_depth, depth_to_png16, image_for_prediction,
                            intrinsics_for_prediction, render_depth_colorbar, write_glb_points, write_ply)
from .inference import (ANNOTATION_TRANSFORMS, build_inference_pipeline, build_model_for_checkpoint, inference_depth,
                        init_depth_model)
from .model_loading import load_depth_model
from .onnx_depth_model import OnnxDepthModel, export_onnx
from .token_neighbours import (Neighbour, find_text_encoder, learned_token_labels, neighbours_to_csv,
                               neighbours_to_markdown, token_neighbours)

__all__ = [
    'build_model_for_checkpoint',
    'init_depth_model', 'load_depth_model', 'inference_depth', 'build_inference_pipeline', 'ANNOTATION_TRANSFORMS',
    'colorize_depth', 'render_depth_colorbar', 'depth_to_png16', 'backproject_depth', 'write_ply', 'write_glb_points', 'image_for_prediction',
    'intrinsics_for_prediction', 'token_neighbours', 'find_text_encoder', 'learned_token_labels',
    'neighbours_to_markdown', 'neighbours_to_csv', 'Neighbour', 'OnnxDepthModel', 'export_onnx'
]
