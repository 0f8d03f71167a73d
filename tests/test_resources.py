"""Resource strings: pure parsing and the operator's caps."""

import pytest

from submarine_spawner.resources import ResourceError, ResourcePolicy, Resources, format_bytes, parse_resources

GI = 2**30


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", Resources()),
        ("cpu=1,memory=1.0Gi", Resources(cpu=1.0, memory=GI)),
        (" cpu = 500m , memory = 512Mi ", Resources(cpu=0.5, memory=512 * 2**20)),
        ("cpu=0.5", Resources(cpu=0.5)),
        ("cpu=.25", Resources(cpu=0.25)),
        ("memory=2G", Resources(memory=2 * 10**9)),
        ("memory=1024", Resources(memory=1024)),
        ("memory=1.5Gi", Resources(memory=int(1.5 * GI))),
        ("memory=2K", Resources(memory=2000)),
        ("memory=1Ti", Resources(memory=2**40)),
        ("cpu=1,memory=2Gi,nvidia.com/gpu=1", Resources(cpu=1.0, memory=2 * GI, extended={"nvidia.com/gpu": 1})),
        ("nvidia.com/gpu=0", Resources(extended={"nvidia.com/gpu": 0})),
        ("cpu=1,", Resources(cpu=1.0)),
    ],
)
def test_parses(text, expected):
    assert parse_resources(text) == expected


@pytest.mark.parametrize(
    "text,words",
    [
        ("cpu", "key=value"),
        ("=1", "key=value"),
        ("cpu=", "key=value"),
        ("cpu=abc", "not a quantity"),
        ("cpu=1x", "not a cpu unit"),
        ("cpu=-1", "negative"),
        ("cpu=0", "at least 1m"),
        ("cpu=0.0001", "at least 1m"),
        ("memory=-1Gi", "negative"),
        ("memory=1.0Gx", "not a memory unit"),
        ("memory=1e9", "not a quantity"),
        ("memory=0", "at least one byte"),
        ("nvidia.com/gpu=0.5", "whole number"),
        ("nvidia.com/gpu=-1", "negative"),
        ("gpu=1", "not a known resource"),
        ("amd.com/gpu=1", "not a known resource"),
        ("cpu=1,cpu=2", "more than once"),
        ("cpu=1;memory=1Gi", "not a quantity"),
        ("cpu=$(touch /tmp/x)", "not a quantity"),
    ],
)
def test_refuses_with_the_entry_and_rule(text, words):
    with pytest.raises(ResourceError, match=words.replace("(", r"\(")):
        parse_resources(text)


def test_policy_caps_and_extended_resources():
    policy = ResourcePolicy(
        max_cpu=4,
        max_memory="8G",
        max_extended={"nvidia.com/gpu": 2},
        extended_resources=["nvidia.com/gpu", "example.com/fpga"],
    )
    assert policy.parse("cpu=4,memory=8Gi,nvidia.com/gpu=2,example.com/fpga=9").extended == {
        "nvidia.com/gpu": 2,
        "example.com/fpga": 9,
    }
    for text, words in [
        ("cpu=4.5", "cpu=4.5 is over this hub's cap of 4"),
        ("memory=9Gi", "memory=9Gi is over this hub's cap of 8Gi"),
        ("nvidia.com/gpu=3", "nvidia.com/gpu=3 is over this hub's cap of 2"),
    ]:
        with pytest.raises(ResourceError, match=words):
            policy.parse(text)
    uncapped = ResourcePolicy()
    assert uncapped.parse("cpu=1000,memory=100Ti").cpu == 1000


def test_policy_rejects_bad_extended_names():
    with pytest.raises(Exception, match="not an extended resource name"):
        ResourcePolicy(extended_resources=["gpu"])


@pytest.mark.parametrize("size,text", [(GI, "1Gi"), (512 * 2**20, "512Mi"), (3072, "3Ki"), (1000, "1000")])
def test_format_bytes(size, text):
    assert format_bytes(size) == text
