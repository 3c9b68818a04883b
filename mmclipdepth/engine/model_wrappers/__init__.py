from .multi_variant_data_parallel import MultiVariantDataParallel

__all__ = ['MultiVariantDataParallel']
