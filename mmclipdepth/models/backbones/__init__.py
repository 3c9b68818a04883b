from .clip_prompt_backbone import CLIPPromptBackbone
from .lora_vit import LoRAViT

__all__ = ['CLIPPromptBackbone', 'LoRAViT']
