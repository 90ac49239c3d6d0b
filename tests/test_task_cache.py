"""A genotype's tasks from its cached parts equal those of its whole lowered network."""

from collections import Counter

from nacos.board import load_board
from nacos.spaces import get_space
from nacos.spaces.lowering import distinct_samples, lower
from nacos.spaces.skips import Skip
from nacos.spaces.task_cache import TaskCache, part_signature, split_parts
from nacos.tasks import extract_tasks


def _weights(tasks) -> Counter:
    found = Counter()
    for t in tasks:
        found[t.key] += t.weight
    return found


def test_parts_give_the_whole_networks_tasks_and_are_lowered_once(tmp_path):
    space, board = get_space("mbconv"), load_board("x86")
    first, second = distinct_samples(space, 2, 5)
    cache = TaskCache(board, tmp_path)
    for genotype in (first, second):
        whole = extract_tasks(lower(space, genotype).mod, board.target())
        assert _weights(cache.tasks(space, genotype)) == _weights(whole)
    lowered = cache.lowered
    assert 0 < lowered <= len(split_parts(space.build(first), space.input_shape)) * 2
    cache.tasks(space, first)
    assert cache.lowered == lowered  # in memory
    cache.close()
    again = TaskCache(board, tmp_path)  # another process: from the SQLite file
    tasks = again.tasks(space, second)
    assert again.lowered == 0 and _weights(tasks) == _weights(cache.tasks(space, second))
    assert tasks[0].prim_func_mod is not None


def test_signature_tells_apart_what_changes_the_program():
    import torch

    body = torch.nn.Conv2d(8, 8, 3, padding=1)
    assert part_signature(Skip(body, "add"), (1, 8, 4, 4)) != part_signature(Skip(body, "none"), (1, 8, 4, 4))
    assert part_signature(body, (1, 8, 4, 4)) != part_signature(body, (1, 8, 8, 8))
    assert part_signature(body, (1, 8, 4, 4)) == part_signature(torch.nn.Conv2d(8, 8, 3, padding=1), (1, 8, 4, 4))


def test_other_networks_are_cached_whole(tmp_path):
    space, board = get_space("nb201"), load_board("x86")
    genotype = distinct_samples(space, 1, 0)[0]
    assert len(split_parts(space.build(genotype), space.input_shape)) == 1
    cache = TaskCache(board, tmp_path)
    whole = extract_tasks(lower(space, genotype).mod, board.target())
    assert _weights(cache.tasks(space, genotype)) == _weights(whole) and cache.lowered == 1
