from .per_sample_seed_sampler import PerSampleSeedSampler, sample_seed, seeded_rng, split_seeded_index

__all__ = ['PerSampleSeedSampler', 'sample_seed', 'seeded_rng', 'split_seeded_index']
