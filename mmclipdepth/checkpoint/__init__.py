"""Everything about checkpoint files in one place.

- :mod:`.reader`: the one ``torch.load`` (archive checks before inflating, allow-listed unpickling, clear
  corrupt / unsafe errors naming the file), registered as mmengine's local checkpoint loader;
- :mod:`.identity`: the config fingerprint and tensor digests every checkpoint carries, verified at load;
- :mod:`.guard`: the check every model load runs (``_load_from_state_dict`` pre-hook of the estimators);
- :mod:`.state`: reading a state dict's keys, the small state dict;
- :mod:`.atomic`: atomic writes (the ``'atomic_local'`` file backend); :mod:`.hook`: ``SafeCheckpointHook``;
- :mod:`.convert`: small <-> full conversion, a model's initial checkpoint, the atomic save the converters use.
"""
from .. import _guard  # noqa: F401  (first: refuses a shadowed, empty mmclipdepth package)
from .atomic import AtomicLocalBackend, atomic_write
from .convert import convert_checkpoint, initial_checkpoint, save_checkpoint
from .guard import check_incoming_state, describe_source, describe_values
from .hook import SafeCheckpointHook, capture_rng_state, restore_rng_state, small_state_dict
from .identity import (IDENTITY_KEY, CheckpointIdentityError, CheckpointMismatchError, model_fingerprint, stamp,
                       verify_tensors)
from .reader import (SOURCE_KEY, CorruptCheckpointError, OversizeCheckpointError, UnsafeCheckpointError, check_archive,
                     checkpoint_source_of, register_local_loader, safe_torch_load)
from .state import checkpoint_keys, checkpoint_state_dict, holds_clip_weights, set_clip_pretrained_none

register_local_loader()

__all__ = ['AtomicLocalBackend', 'atomic_write', 'convert_checkpoint', 'initial_checkpoint', 'save_checkpoint',
           'check_incoming_state', 'describe_values', 'describe_source', 'SafeCheckpointHook', 'capture_rng_state',
           'restore_rng_state', 'small_state_dict', 'IDENTITY_KEY', 'CheckpointIdentityError',
           'CheckpointMismatchError', 'model_fingerprint', 'stamp', 'verify_tensors', 'CorruptCheckpointError',
           'OversizeCheckpointError', 'UnsafeCheckpointError', 'check_archive', 'SOURCE_KEY', 'checkpoint_source_of',
           'register_local_loader', 'safe_torch_load', 'checkpoint_keys', 'checkpoint_state_dict',
           'holds_clip_weights', 'set_clip_pretrained_none']
