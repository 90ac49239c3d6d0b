"""Search spaces: genotypes as data, built into PyTorch, described statically, compiled through TVM."""

import argparse
import csv
import itertools
import json

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from nacos import compiler, zoo
from nacos.board import load_board
from nacos.errors import NacosError
from nacos.spaces import SPACES, Genotype, get_space
from nacos.spaces.cli import add_parser, read_genotype
from nacos.spaces.describe import describe_module
from nacos.spaces.grassroots import GrassrootsSpace
from nacos.spaces.hybrid import HybridSpace
from nacos.spaces.lowering import lower, overlap_of
from nacos.spaces.nb201 import EDGES, OPS, NB201Space, arch_string, is_disconnected, parse_arch
from nacos.tasks import extract_tasks

GENOTYPES_DEFAULT_RUN = {"mbconv": 200, "hybrid": 200, "nb201": 200, "grassroots": 30}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These networks are tiny: a second thread only spins, and on a shared machine it stalls."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def quick_space(name):
    """The registered space, with one cell per stage for nb201 so that the default run stays fast."""
    return NB201Space(cells_per_stage=1) if name == "nb201" else get_space(name)


def tiny_grassroots():
    return GrassrootsSpace(zoo.TinyCNN, (1, 1, 28, 28), calibrate_batchnorm=True)


def check_random_genotypes(space, count, seed=0):
    """Build, forward, JSON round trip, mutation and crossover of `count` random genotypes."""
    rng = np.random.default_rng(seed)
    catalog = {d.name: d for d in space.all_decisions()}
    seen, previous = set(), None
    for _ in range(count):
        genotype = space.sample(rng)
        assert space.validate(genotype) == genotype
        assert all(catalog[name].allows(value) for name, value in genotype.decisions)
        seen.update(genotype.values())
        with torch.no_grad():
            out = space.build(genotype)(torch.randn(space.input_shape))
        assert out.shape == (1, space.num_classes)
        parsed = Genotype.from_json(genotype.to_json())
        assert parsed == genotype and hash(parsed) == hash(genotype) and parsed.key() == genotype.key()
        child = space.mutate(genotype, rng)
        assert child != genotype and space.validate(child) == child
        if previous is not None:
            mixed = space.crossover(genotype, previous, rng)
            assert mixed not in (genotype, previous) and space.validate(mixed) == mixed
        previous = genotype
    assert seen == set(catalog), "all_decisions() lists decisions no sample made"


@pytest.mark.parametrize("name", list(SPACES))
def test_random_genotypes_build_round_trip_and_vary(name):
    check_random_genotypes(quick_space(name), GENOTYPES_DEFAULT_RUN[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SPACES))
def test_200_random_genotypes_of_each_registered_space(name):
    check_random_genotypes(get_space(name), 200, seed=1)


def test_small_grassroots_space_200_genotypes():
    check_random_genotypes(tiny_grassroots(), 200)


def test_sampling_and_building_are_deterministic():
    space = get_space("mbconv")
    first = [space.sample(np.random.default_rng(7)) for _ in range(2)]
    assert first[0] == first[1]
    a, b = space.build(first[0]).state_dict(), space.build(first[0]).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_mutation_changes_one_to_three_decisions():
    space, rng = NB201Space(), np.random.default_rng(3)
    for _ in range(100):
        parent = space.sample(rng)
        child = space.mutate(parent, rng)
        assert 1 <= sum(a != b for (_, a), (_, b) in zip(parent.decisions, child.decisions)) <= 3


def test_crossover_of_parents_one_decision_apart_is_a_mutation_of_neither():
    space, rng = NB201Space(), np.random.default_rng(0)
    a = space.genotype("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    b = space.genotype("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    for _ in range(20):
        assert space.crossover(a, b, rng) not in (a, b)
        assert space.crossover(a, a, rng) != a


# ----------------------------------------------------------------------------- rejection


def test_genotype_of_another_space_or_with_bad_values_is_rejected():
    mbconv, nb201 = get_space("mbconv"), NB201Space()
    good = mbconv.sample(np.random.default_rng(0)).to_dict()

    def with_decisions(**changes):
        decisions = {k: v for k, v in {**good["decisions"], **changes}.items() if v is not None}
        return json.dumps({"space": "mbconv", "decisions": decisions})

    with pytest.raises(NacosError, match="belongs to space 'nb201', not to space 'mbconv'"):
        mbconv.validate(nb201.sample(np.random.default_rng(0)))
    with pytest.raises(NacosError, match=r"decision 's0.depth' is 4; here it must be one of \[1, 2, 3\]"):
        mbconv.load(with_decisions(**{"s0.depth": 4}))
    with pytest.raises(NacosError, match="decision 'width' is '0.5'"):
        mbconv.load(with_decisions(width="0.5"))
    with pytest.raises(NacosError, match="lacks decision 'width'"):
        mbconv.load(with_decisions(width=None))
    with pytest.raises(NacosError, match="does not make: s9.depth"):
        mbconv.load(with_decisions(**{"s9.depth": 2}))
    with pytest.raises(NacosError, match="not valid JSON"):
        mbconv.load("{space: mbconv")
    with pytest.raises(NacosError, match="a genotype is a JSON object"):
        mbconv.load('{"space": "mbconv", "decisions": [1, 2]}')
    with pytest.raises(NacosError, match="decision 'width' has value \\[0.5\\]"):
        Genotype.from_json('{"space": "mbconv", "decisions": {"width": [0.5]}}')


def test_genotype_json_nested_too_deep_is_one_error(tmp_path):
    """json.loads recurses once per level: 100,000 brackets must end in a NacosError, not a RecursionError."""
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(NacosError, match="genotype is not valid JSON"):
        Genotype.from_json(deep)
    path = tmp_path / "deep.json"
    path.write_text(deep)
    with pytest.raises(NacosError, match="deep.json': genotype is not valid JSON"):
        read_genotype(get_space("mbconv"), path)


def test_inactive_decision_is_rejected():
    """A block decision beyond the stage's depth would give two genotypes for one network."""
    space = get_space("mbconv")
    genotype = next(g for g in (space.sample(np.random.default_rng(s)) for s in range(50)) if g["s0.depth"] == 3)
    shallower = {**genotype.values(), "s0.depth": 1}
    with pytest.raises(NacosError, match="does not make: s0.b1.expand, s0.b1.kernel"):
        space.validate(Genotype("mbconv", tuple(shallower.items())))


def test_grassroots_genotype_of_another_model_is_rejected():
    other = tiny_grassroots().sample(np.random.default_rng(0))
    with pytest.raises(NacosError, match="belongs to space 'grassroots-TinyCNN', not to space 'grassroots'"):
        get_space("grassroots").validate(other)
    with pytest.raises(NacosError, match="has 10 classes"):
        tiny_grassroots().build(other, num_classes=5)


def test_hybrid_switch_points_follow_the_input_shape():
    space = HybridSpace(input_shape=(1, 1, 30, 30))  # 15x15 after one conv stage: no patch size fits
    rng = np.random.default_rng(0)
    assert {space.sample(rng)["switch"] for _ in range(30)} == {2, 3}
    with pytest.raises(NacosError, match="leaves no switch point"):
        HybridSpace(input_shape=(1, 1, 2, 2)).sample(rng)
    cifar = HybridSpace(input_shape=(1, 3, 32, 32))
    with torch.no_grad():
        assert cifar.build(cifar.sample(rng))(torch.randn(1, 3, 32, 32)).shape == (1, 10)


# ----------------------------------------------------------------------------- static costs


def test_describe_matches_hand_computed_costs():
    """NB-201 with N=1, C=8 and skip-only cells: only the stem, reductions and classifier compute."""
    space = NB201Space(cells_per_stage=1, channels=8)
    d = space.describe(space.genotype("|skip_connect~0|+|skip_connect~0|skip_connect~1|"
                                      "+|skip_connect~0|skip_connect~1|skip_connect~2|"))
    stem = 32 * 32 * 8 * (3 * 9)
    reduction_1 = 16 * 16 * 16 * (8 * 9 + 16 * 9 + 8)  # conv_a 3x3/2, conv_b 3x3, 1x1 shortcut
    reduction_2 = 8 * 8 * 32 * (16 * 9 + 32 * 9 + 16)
    classifier = 32 * 10
    assert d.flops == 2 * (stem + reduction_1 + reduction_2 + classifier) == 4_113_024
    conv_weights = 3 * 8 * 9 + (8 * 16 * 9 + 16 * 16 * 9 + 8 * 16) + (16 * 32 * 9 + 32 * 32 * 9 + 16 * 32)
    batchnorm = 2 * (8 + 16 + 16 + 32 + 32 + 32)
    assert d.params == conv_weights + batchnorm + (32 * 10 + 10) == 18_738
    first = d.layers[0]
    assert (first.op, first.kernel, first.stride, first.groups, first.output_shape) == \
        ("Conv2d", (3, 3), (1, 1), 1, (1, 8, 32, 32))
    assert [layer.op for layer in d.layers].count("Identity") == 3 * 6


def test_nb201_costs_span_the_published_range():
    """NAS-Bench-201 gives 7.8 to 220.1 M FLOPs (counted as multiply-accumulates), 0.073 to 1.53 M parameters."""
    space = NB201Space()
    convs = space.describe(space.genotype("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
                                          "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"))
    nothing = space.describe(space.genotype("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    assert round(convs.flops / 2e6, 1) == 220.1 and round(convs.params / 1e6, 2) == 1.53
    assert round(nothing.flops / 2e6, 1) == 7.8 and round(nothing.params / 1e6, 3) == 0.073


def test_peak_activation_memory_counts_tensors_kept_for_a_skip():
    class Residual(nn.Module):
        def forward(self, x):
            return x + torch.relu(torch.relu(x))

    size = 4 * 8 * 8 * 4  # bytes of one (1, 4, 8, 8) float32 tensor
    # x is kept for the add while relu(relu(x)) is computed: x, relu(x), relu(relu(x)) live at once.
    assert describe_module(Residual(), (1, 4, 8, 8)).peak_activation_bytes == 3 * size
    conv = describe_module(nn.Conv2d(4, 8, 3, padding=1, bias=False), (1, 4, 8, 8))
    assert conv.peak_activation_bytes == size + 2 * size and conv.flops == 2 * 8 * 64 * 4 * 9


@pytest.mark.parametrize("name", ["mbconv", "hybrid", "grassroots"])
def test_describe_flops_agree_with_torch_flop_counter(name):
    """PyTorch's own counter sees convolutions, linear layers and the attention matmuls too."""
    from torch.utils.flop_counter import FlopCounterMode

    space = get_space(name)
    rng = np.random.default_rng(5)
    for _ in range(3):
        genotype = space.sample(rng)
        model = space.build(genotype)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(space.input_shape))
        assert space.describe(genotype).flops == counter.get_total_flops()


# ----------------------------------------------------------------------------- NAS-Bench-201


@pytest.fixture(scope="module")
def nb201_rows():
    from nacos.costmodel.latency_table import SHIPPED_TABLE, open_table

    with open_table(SHIPPED_TABLE) as f:
        return list(csv.DictReader(f))


def test_nb201_strings_round_trip_on_the_published_table(nb201_rows):
    space = NB201Space()
    for row in nb201_rows[:300]:
        assert arch_string(parse_arch(row["arch"])) == row["arch"]
        assert space.arch(space.genotype(row["arch"])) == row["arch"]
    every_arch = {arch_string(ops) for ops in itertools.product(OPS, repeat=6)}
    assert {row["arch"] for row in nb201_rows} == every_arch  # same string form as the benchmark


def test_nb201_disconnected_cells(nb201_rows):
    # Row 3 has none edges but stays connected: node 2 = skip(node 0), output = skip(node 2).
    assert nb201_rows[3]["arch"] == "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert not is_disconnected(nb201_rows[3]["arch"])
    assert nb201_rows[10]["arch"] == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"
    assert is_disconnected(nb201_rows[10]["arch"])
    for row in nb201_rows:  # against a graph library's reachability
        graph = nx.DiGraph()
        graph.add_nodes_from(range(4))
        graph.add_edges_from((src, to) for (to, src), op in zip(EDGES, parse_arch(row["arch"])) if op != "none")
        assert is_disconnected(row["arch"]) == (not nx.has_path(graph, 0, 3))


@pytest.mark.parametrize("arch, pattern", [
    ("|nor_conv_3x3~0|+|none~0|none~1|", "3 node groups"),
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NAS-Bench-201 op 'conv_5x5'"),
    ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", r"node 2 .* expected \|OP~0\|OP~1\|"),
])
def test_nb201_malformed_strings_are_rejected(arch, pattern):
    with pytest.raises(NacosError, match=pattern):
        parse_arch(arch)


# ----------------------------------------------------------------------------- lowering to TVM


@pytest.fixture(scope="module")
def x86():
    return load_board("x86")


@pytest.mark.parametrize("make_space", [lambda: get_space("mbconv"), lambda: get_space("hybrid"),
                                        lambda: NB201Space(cells_per_stage=1), tiny_grassroots],
                         ids=["mbconv", "hybrid", "nb201", "grassroots"])
def test_genotypes_compile_untuned_and_match_torch(make_space, x86):
    space = make_space()
    rng = np.random.default_rng(11)
    task_keys = []
    for genotype in (space.sample(rng), space.sample(rng)):
        network = lower(space, genotype)
        vm = compiler.load_vm(compiler.build(network.mod, x86, store=None))
        inputs = network.sample_inputs(seed=1)
        check = compiler.compare(compiler.run(vm, inputs), network.reference(inputs))
        assert check.ok, check
        task_keys.append({t.key for t in extract_tasks(network.mod, x86.target())})
    assert overlap_of(space.name, task_keys).shared_tasks > 0


@pytest.mark.slow
def test_registered_grassroots_space_compiles(x86):
    space = get_space("grassroots")
    network = lower(space, space.sample(np.random.default_rng(0)))
    vm = compiler.load_vm(compiler.build(network.mod, x86, store=None))
    inputs = network.sample_inputs(seed=1)
    assert compiler.compare(compiler.run(vm, inputs), network.reference(inputs)).ok


def test_overlap_definitions():
    overlap = overlap_of("s", [{"a", "b"}, {"b", "c"}, {"a", "b", "d"}])
    assert (overlap.task_instances, overlap.unique_tasks, overlap.shared_tasks, overlap.reused_instances) == (7, 4, 2, 3)
    assert overlap.shared_share == 0.5 and overlap.reuse_share == 3 / 7


# ----------------------------------------------------------------------------- command line


def run_space_cli(capsys, *argv):
    parser = argparse.ArgumentParser(prog="nacos")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_cli_show_prints_decisions_and_costs(capsys):
    out = run_space_cli(capsys, "space", "show", "mbconv", "--seed", "2")
    for text in ("space mbconv", "decisions (", "width ", "s0.b0.kernel", "FLOPs", "parameters",
                 "peak activations", "layers (", "Conv2d"):
        assert text in out


def test_cli_sample_nb201(capsys):
    out = run_space_cli(capsys, "space", "sample", "nb201", "-n", "5")
    rows = [line for line in out.splitlines() if line.strip().split(" ")[0].isdigit()]
    assert len(rows) == 5 and all(parse_arch(row.split()[-1]) for row in rows)
    samples = json.loads(run_space_cli(capsys, "space", "sample", "nb201", "-n", "2", "--json"))
    assert len(samples) == 2 and all(s["flops"] > 0 and s["peak_activation_bytes"] > 0 for s in samples)
    assert NB201Space().load(samples[0]["genotype"]).key() == samples[0]["key"]


def test_cli_show_reads_a_genotype_file_and_rejects_another_space(capsys, tmp_path):
    path = tmp_path / "g.json"
    path.write_text(NB201Space().genotype("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|").to_json())
    assert "3<-0  skip_connect" in run_space_cli(capsys, "space", "show", "nb201", "--genotype", str(path))
    with pytest.raises(NacosError, match="g.json': genotype belongs to space 'nb201', not to space 'hybrid'"):
        run_space_cli(capsys, "space", "show", "hybrid", "--genotype", str(path))
    with pytest.raises(NacosError, match="unknown search space 'resnet'"):
        run_space_cli(capsys, "space", "show", "resnet")
