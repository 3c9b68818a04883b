from .clip_loader import build_clip_tokenizer, load_clip, shared_clip_scope

__all__ = ['load_clip', 'shared_clip_scope', 'build_clip_tokenizer']
