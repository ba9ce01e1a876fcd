import torch

from asr.data.dataset import BucketBatchSampler, collate

DURATIONS = [1.0, 5.0, 2.0, 4.0, 3.0, 6.0, 2.5, 0.5, 7.0, 1.5]


def test_batches_respect_the_item_and_seconds_caps():
    sampler = BucketBatchSampler(DURATIONS, batch_size=3, max_batch_seconds=10.0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(DURATIONS)))
    for batch in batches:
        longest = max(DURATIONS[i] for i in batch)
        assert len(batch) <= 3 and (longest * len(batch) <= 10.0 or len(batch) == 1)


def test_shards_are_disjoint_equal_and_cover_every_batch():
    full = BucketBatchSampler(DURATIONS, 2, 100.0, seed=3)  # 5 batches
    shards = [BucketBatchSampler(DURATIONS, 2, 100.0, seed=3, num_replicas=2, rank=r)
              for r in (0, 1)]  # fmt: skip
    for shard in [full, *shards]:
        shard.set_epoch(1)
    got = [list(s) for s in shards]
    assert len(got[0]) == len(got[1]) == len(shards[0]) == 3  # 5 batches padded to 6
    ordered = list(full)
    assert got[0] == ordered[0::2] and got[1] == ordered[1::2] + ordered[:1]
    assert {tuple(b) for b in got[0]} | {tuple(b) for b in got[1]} == {
        tuple(b) for b in ordered
    }


def test_start_batch_skips_the_batches_already_trained():
    sampler = BucketBatchSampler(DURATIONS, 2, 100.0, seed=0)
    sampler.set_epoch(4)
    everything = list(sampler)
    sampler.set_epoch(4, start_batch=3)
    assert list(sampler) == everything[3:] and len(sampler) == 5
    sampler.set_epoch(5)
    assert list(sampler) != everything  # reshuffled every epoch


def test_collate_counts_failed_items_and_may_be_empty():
    item = (torch.ones(5), torch.tensor([3, 4]))
    batch = collate([item, None, (torch.ones(3), torch.tensor([5]))])
    assert len(batch) == 2 and batch.skipped == 1
    assert batch.waves.shape == (2, 5) and batch.wave_lens.tolist() == [5, 3]
    empty = collate([None, None])
    assert len(empty) == 0 and empty.skipped == 2
