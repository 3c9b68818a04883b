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

from .atomic import atomic_write
from .identity import stamp

__all__ = ['SafeCheckpointHook', 'capture_rng_state', 'restore_rng_state', 'small_state_dict']


def small_state_dict(model, state: dict) -> dict:
    """``state`` without the frozen parameters (``requires_grad=False``): what training changes - learned
    parameters, every buffer (train-mode BatchNorm statistics, bins, the CLIP digest) - stays. A frozen tensor
    shared by several modules (the text tower every head of a sweep uses) is left out under every name it
    has in the state dict, not only under the first (``remove_duplicate=False``)."""
    frozen = {n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}
    return type(state)((k, v) for k, v in state.items() if k not in frozen)


def _depth_range(cfg):
    """The (min_depth, max_depth) of the config's test (else val) evaluator, or None."""
    for key in ('test_evaluator', 'val_evaluator'):
        evaluators = cfg.get(key) if cfg is not None else None
        for ev in ([evaluators] if isinstance(evaluators, dict) else list(evaluators or ())):
            if isinstance(ev, dict) and 'max_depth' in ev:
                return (float(ev.get('min_depth', 0.0)), float(ev['max_depth']))
    return None


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

    def __init__(self, *args, backend_args=None, save_frozen: bool = True, overwrite: bool = False, **kwargs):
        out_dir = kwargs.get('out_dir')
        if backend_args is None and kwargs.get('file_client_args') is None and \
                (out_dir is None or '://' not in str(out_dir)):
            backend_args = dict(backend='atomic_local')
        super().__init__(*args, backend_args=backend_args, **kwargs)
        self._pending_rng = None
        self.save_frozen = bool(save_frozen)
        self.overwrite = bool(overwrite)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._refuse_overwrite(runner)
        if is_main_process() and self.out_dir and '://' not in str(self.out_dir) and osp.isdir(self.out_dir):
            for name in os.listdir(self.out_dir):  # temporary files of a save that was killed
                if name.startswith('.') and name.endswith('.tmp'):
                    os.remove(osp.join(self.out_dir, name))

    def _refuse_overwrite(self, runner) -> None:
        """A run never overwrites an earlier run's checkpoints: a fresh run (no ``--resume``) into a folder
        that already holds checkpoints is refused unless ``overwrite=True`` (``tools/train.py
        --overwrite-checkpoints``)."""
        if self.overwrite or getattr(runner, '_resume', False) or not self.out_dir or '://' in str(self.out_dir):
            return
        folder = str(self.out_dir)
        if not osp.isdir(folder):
            return
        found = sorted(n for n in os.listdir(folder) if n.endswith('.pth') and not n.startswith('.'))
        if osp.isfile(osp.join(runner.work_dir, 'last_checkpoint')):
            found.append('last_checkpoint')
        if found:
            raise FileExistsError(
                f'work dir {folder!r} already holds checkpoints of an earlier run ({", ".join(found[:4])}'
                f'{", ..." if len(found) > 4 else ""}): a new run would overwrite them. Continue that run with '
                '--resume, give another --work-dir, or pass --overwrite-checkpoints '
                '(default_hooks.checkpoint.overwrite=True) to replace them on purpose.')

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
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        if not self.save_frozen:
            checkpoint['state_dict'] = small_state_dict(model, checkpoint['state_dict'])
            checkpoint['meta']['frozen_parameters'] = 'not saved (restored from the configured CLIP on load)'
        cfg = getattr(runner, 'cfg', None)
        name = osp.splitext(osp.basename(cfg.filename))[0] if getattr(cfg, 'filename', None) else None
        checkpoint['state_dict'] = stamp(checkpoint['state_dict'], model, variant=name, depth_range=_depth_range(cfg))

    # ------------------------------------------------------------------------------------------ resuming
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta') or {}
        if getattr(runner, '_resume', False) and ('epoch' not in meta or 'iter' not in meta):
            model = runner.model.module if hasattr(runner.model, 'module') else runner.model
            state = checkpoint.get('state_dict')
            if isinstance(state, dict) and hasattr(model, 'build_cfg'):  # a wrong model is the first thing to say
                import warnings
                from .guard import check_incoming_state, describe_source
                with warnings.catch_warnings():
                    warnings.simplefilter('ignore')
                    check_incoming_state(model, type(state)(state), source=describe_source(state))
            raise ValueError(
                'cannot --resume from this checkpoint: it holds weights only, no training state (epoch, '
                'iteration, optimiser). To start a new run from these weights set load_from=CHECKPOINT '
                '(or --cfg-options load_from=CHECKPOINT) without --resume.')
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
