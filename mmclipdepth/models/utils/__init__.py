from .clip_loader import build_clip_tokenizer, load_clip, shared_clip_scope
from .adaptive_prompt_generator import AdaptivePromptGenerator
from .cross_modal_reprogramming import CrossModalReprogramming
from .language_to_depth_mlp import LanguageToDepthMLP

__all__ = ['load_clip', 'shared_clip_scope', 'build_clip_tokenizer', 'AdaptivePromptGenerator', 'CrossModalReprogramming', 'LanguageToDepthMLP']
