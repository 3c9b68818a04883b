from .clip_text_core import CLIPTextCore
from .learnable_token_text_encoder import (DEPTH_TOKEN_SETS, PROMPT_TEMPLATES,
                                           LearnableTokenTextEncoder)

__all__ = ['CLIPTextCore', 'LearnableTokenTextEncoder', 'PROMPT_TEMPLATES', 'DEPTH_TOKEN_SETS']
