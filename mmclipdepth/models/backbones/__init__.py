from .clip_prompt_backbone import CLIPPromptBackbone

__all__ = ['CLIPPromptBackbone']
