"""Timing, peak memory, profiling and machine description for the benchmark (``benchmarks.measure``): the
device-aware clocks (CUDA synchronised), peak resident memory of the measuring process or CUDA's peak
allocation, a ``torch.profiler`` summary by operator family."""
import os
import platform
import statistics
import sys
import time

import torch

__all__ = ['sync', 'timed', 'summary', 'memory_start', 'memory_peak', 'profile_step', 'machine_info']


def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def _rss_bytes() -> int:
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except OSError:
        return 0


def _peak_rss_bytes() -> int:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    scale = 1 if sys.platform == 'darwin' else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def timed(fn, device):
    sync(device)
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t, time.process_time() - c


def summary(walls, cpus, skip):
    w, c = walls[skip:], cpus[skip:]
    return dict(wall_s=statistics.median(w) if w else None, cpu_s=statistics.median(c) if c else None,
                wall_all_s=[round(x, 3) for x in walls], cpu_all_s=[round(x, 3) for x in cpus], timed=len(w))


def memory_start(device):
    if str(device).startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    return _rss_bytes()


def memory_peak(device):
    if str(device).startswith('cuda'):
        return dict(peak_bytes=torch.cuda.max_memory_allocated(), kind='cuda max_memory_allocated')
    return dict(peak_bytes=_peak_rss_bytes(), kind='peak RSS (VmHWM) of the measuring process')



#: operator families for the profile summary (self time): image trunk, text transformer, the rest
_OP_FAMILIES = (
    ('image trunk (conv, batch norm, pool, relu)', ('conv', 'batch_norm', 'pool', 'relu', 'clamp_min')),
    ('matmul (text transformer, head, backward)', ('addmm', 'mm', 'bmm', 'linear', 'matmul', 'einsum',
                                                   'attention', 'softmax', 'gelu', 'layer_norm', 'baddbmm')),
)


def profile_step(step, device='cpu', rows: int = 20) -> dict:
    """One more step under ``torch.profiler``: the top operators by self time and the share of each family."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if str(device).startswith('cuda') else [])
    with profile(activities=acts) as prof:
        step()
        sync(device)
    events = prof.key_averages()
    cuda = str(device).startswith('cuda')
    key = 'self_cuda_time_total' if cuda else 'self_cpu_time_total'
    tot = sum(getattr(e, key, 0) for e in events) or 1
    fam = {name: 0.0 for name, _ in _OP_FAMILIES}
    fam['other'] = 0.0
    for e in events:
        t = getattr(e, key, 0)
        lname = e.key.lower()
        for name, words in _OP_FAMILIES:
            if any(w in lname for w in words):
                fam[name] += t
                break
        else:
            fam['other'] += t
    top = sorted(events, key=lambda e: getattr(e, key, 0), reverse=True)[:rows]
    return dict(total_self_s=tot / 1e6, family_share={k: v / tot for k, v in fam.items()},
                top=[dict(op=e.key, self_s=getattr(e, key, 0) / 1e6, calls=e.count) for e in top])


def machine_info(device='cpu') -> dict:
    info = dict(platform=platform.platform(), python=platform.python_version(), torch=torch.__version__,
                cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads())
    try:
        with open('/proc/cpuinfo') as f:
            info['cpu'] = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), '')
        with open('/proc/meminfo') as f:
            info['mem_total_gb'] = round(int(f.readline().split()[1]) / 1e6, 1)
    except OSError:
        pass
    if str(device).startswith('cuda') and torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    return info
