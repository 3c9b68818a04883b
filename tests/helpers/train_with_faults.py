"""Run tools/train.py's training in this process with an injected fault (used by tests/test_reliability.py).

    python tests/helpers/train_with_faults.py CONFIG [--resume] [--kill-after-iter N]
        [--kill-during-save K --kill-at write|replace|pointer]

--kill-after-iter N: SIGKILL this process right after training iteration N (its checkpoint, if any, is saved).
--kill-during-save K --kill-at ...: SIGKILL during the K-th checkpoint save: 'write' with half of the
temporary file written, 'replace' just after the new checkpoint is in place but before ``last_checkpoint``
names it, 'pointer' after ``last_checkpoint`` is updated but before old checkpoints are removed.
"""
import argparse
import os
import signal
import sys

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmclipdepth  # noqa: F401
from mmclipdepth.checkpoint import atomic as backend
from mmclipdepth.checkpoint import hook as hook_mod


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class KillAfterIter(Hook):
    priority = 'LOWEST'  # after the checkpoint hook

    def __init__(self, n):
        self.n = n

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.n:  # runner.iter counts from 0 inside the hook
            die()


def main():
    p = argparse.ArgumentParser()
    p.add_argument('config')
    p.add_argument('--resume', action='store_true')
    p.add_argument('--kill-after-iter', type=int)
    p.add_argument('--kill-during-save', type=int)
    p.add_argument('--kill-at', choices=['write', 'replace', 'pointer'])
    args = p.parse_args()
    cfg = Config.fromfile(args.config)
    cfg.resume = args.resume
    if args.kill_after_iter:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='KillAfterIterHook', n=args.kill_after_iter)]
    if args.kill_during_save:
        count = {'ckpt': 0}
        real_write, real_replace = backend.atomic_write, os.replace

        def write(data, filepath):
            is_ckpt = str(filepath).endswith('.pth')
            if is_ckpt:
                count['ckpt'] += 1
            if is_ckpt and count['ckpt'] == args.kill_during_save:
                if args.kill_at == 'write':
                    folder = os.path.dirname(os.path.abspath(filepath))
                    with open(os.path.join(folder, '.' + os.path.basename(filepath) + '.partial.tmp'), 'wb') as f:
                        f.write(data[:len(data) // 2])
                    die()
                real_write(data, filepath)
                if args.kill_at == 'replace':
                    die()
                return
            real_write(data, filepath)
            if str(filepath).endswith('last_checkpoint') and count['ckpt'] == args.kill_during_save \
                    and args.kill_at == 'pointer':
                die()

        backend.atomic_write = write
        hook_mod.atomic_write = write
    runner = Runner.from_cfg(cfg)
    runner.train()


from mmseg.registry import HOOKS  # noqa: E402


@HOOKS.register_module(name='KillAfterIterHook')
class _KillAfterIterHook(KillAfterIter):
    pass


if __name__ == '__main__':
    main()
