"""mmengine's ``CheckpointHook`` that cannot lose a run, and that makes ``--resume`` exact."""
import os
import os.path as osp
import random

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.runner import IterBasedTrainLoop
from mmseg.registry import HOOKS

from ...fileio.atomic_local_backend import atomic_write

__all__ = ['SafeCheckpointHook', 'capture_rng_state', 'restore_rng_state', 'small_state_dict']


def small_state_dict(model, state: dict) -> dict:
    """``state`` without the frozen parameters (``requires_grad=False``): what training changes - learned
    parameters, every buffer (train-mode BatchNorm statistics, bins, the CLIP digest) - stays."""
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    return type(state)((k, v) for k, v in state.items() if k not in frozen)


def capture_rng_state() -> dict:
    """Python, numpy, torch CPU (and CUDA) generator states (plain tuples, arrays and tensors)."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    random.setstate(tuple(state['python'][:1]) + (tuple(state['python'][1]), ) + tuple(state['python'][2:]))
    np.random.set_state(tuple(state['numpy']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) whose saves cannot lose a run, plus exact resume.

    - The checkpoint is written to a temporary file in its folder, flushed, fsynced and ``os.replace``-d into
      place (``backend_args=dict(backend='atomic_local')`` by default for local folders); ``last_checkpoint``
      is rewritten the same way *after* the checkpoint is complete; old checkpoints beyond ``max_keep_ckpts``
      are deleted only *after* both. A kill at any moment leaves ``last_checkpoint`` pointing at a complete
      file; a full disk raises ``OSError`` naming the file and leaves the previous checkpoint intact.
    - ``save_frozen=False`` (the paper configs) leaves the frozen parameters out - the checkpoint holds what
      training changes: learned tokens / heads, buffers (BatchNorm statistics in ``bn_mode='train'``, the CLIP
      digest), optimiser and scheduler state - and loading restores the rest from the configured CLIP after
      checking its digest (``checkpoint_guard``). ``tools/model_converters/checkpoint_size.py`` converts.
    - Every checkpoint records the Python / numpy / torch (CUDA) generator states at the save; ``--resume``
      restores them where the uninterrupted run would be (the first iteration after the skipped ones for
      iteration-based loops, the next epoch's start for epoch-based ones). With the per-sample augmentation
      seeds of ``PerSampleSeedSampler`` a resumed run repeats the uninterrupted one.
    """

    def __init__(self, *args, backend_args=None, save_frozen: bool = True, **kwargs):
        out_dir = kwargs.get('out_dir')
        if backend_args is None and kwargs.get('file_client_args') is None and \
                (out_dir is None or '://' not in str(out_dir)):
            backend_args = dict(backend='atomic_local')
        super().__init__(*args, backend_args=backend_args, **kwargs)
        self._pending_rng = None
        self.save_frozen = bool(save_frozen)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and self.out_dir and '://' not in str(self.out_dir) and osp.isdir(self.out_dir):
            for name in os.listdir(self.out_dir):  # temporary files of a save that was killed
                if name.startswith('.') and name.endswith('.tmp'):
                    os.remove(osp.join(self.out_dir, name))

    # ------------------------------------------------------------------------------------------ saving
    def _save_checkpoint_with_step(self, runner, step, meta):
        to_remove = []
        if self.max_keep_ckpts > 0 and not (len(self.keep_ckpt_ids) > 0 and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                to_remove.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, ckpt_filename, self.file_client_args, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                               backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        atomic_write(str(self.last_ckpt).encode(), osp.join(runner.work_dir, 'last_checkpoint'))
        for old in to_remove:  # only now: the new checkpoint and the pointer to it are complete
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['rng_state'] = capture_rng_state()
        if not self.save_frozen:
            model = runner.model.module if hasattr(runner.model, 'module') else runner.model
            checkpoint['state_dict'] = small_state_dict(model, checkpoint['state_dict'])
            checkpoint['meta']['frozen_parameters'] = 'not saved (restored from the configured CLIP on load)'

    # ------------------------------------------------------------------------------------------ resuming
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = (checkpoint.get('meta') or {}).get('rng_state')
        self._pending_rng = state if (state is not None and getattr(runner, '_resume', False)) else None

    def _restore(self, runner):
        if self._pending_rng is None:
            return
        restore_rng_state(self._pending_rng)
        self._pending_rng = None
        loop = runner.train_loop
        loader = getattr(loop, 'dataloader', None)
        if isinstance(loop, IterBasedTrainLoop) and loader is not None and not loader.persistent_workers:
            n = len(loader)
            if n and runner.iter % n == 0:
                # the uninterrupted run starts a new pass here, and a new DataLoader iterator draws its base
                # seed from the global torch generator before the next iteration
                torch.empty((), dtype=torch.int64).random_()

    def before_train_epoch(self, runner) -> None:
        if not isinstance(runner.train_loop, IterBasedTrainLoop):
            self._restore(runner)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            self._restore(runner)
