from .clip_loader import (build_clip_tokenizer, load_clip, resolve_quick_gelu, text_activation,
                          weights_quick_gelu)
from .adaptive_prompt_generator import AdaptivePromptGenerator
from .cross_modal_reprogramming import CrossModalReprogramming
from .language_to_depth_mlp import LanguageToDepthMLP

__all__ = ['load_clip', 'build_clip_tokenizer', 'resolve_quick_gelu', 'text_activation',
           'weights_quick_gelu', 'AdaptivePromptGenerator', 'CrossModalReprogramming', 'LanguageToDepthMLP']
