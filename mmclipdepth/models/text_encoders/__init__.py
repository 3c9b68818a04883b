from .clip_text_core import CLIPTextCore
from .hf_language_model import HFLanguageModel
from .learnable_token_text_encoder import (DEPTH_TOKEN_SETS, PROMPT_TEMPLATES,
                                           LearnableTokenTextEncoder)
from .mirror_text_encoder import MirrorTextEncoder

__all__ = ['CLIPTextCore', 'LearnableTokenTextEncoder', 'MirrorTextEncoder', 'HFLanguageModel',
           'PROMPT_TEMPLATES', 'DEPTH_TOKEN_SETS']
