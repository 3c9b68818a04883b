from .dist import setup_cpu_distributed
from .runner_config import load_runner_config

__all__ = ['setup_cpu_distributed', 'load_runner_config']
