"""The rules for kernelSpec entries, alone and in the seam model."""

import pytest
from traitlets.config import Config

from hub_service import specs
from hub_service.errors import ApiError
from submarine_spawner.contract import EnvironmentSpec, KernelSpec
from submarine_spawner.kernelspec import (
    KernelSpecError,
    KernelSpecPolicy,
    check_channel,
    check_conda_spec,
    check_pip_requirement,
)

HOSTILE = [
    "pkg; touch /tmp/x",
    "$(touch /tmp/x)",
    "`touch /tmp/x`",
    "pkg\ntouch /tmp/x",
    "-r /etc/passwd",
    "--index-url=https://evil.example/simple",
    " -e .",
    "",
    "pkg && rm -rf ~",
    "x" * 300,
]


@pytest.mark.parametrize(
    "entry",
    [
        "pandas",
        "numpy>=1.26",
        "requests[socks]==2.32.3",
        "scikit-learn~=1.5",
        'tomli; python_version < "3.11"',
        "torch>=2,<3",
    ],
)
def test_pip_requirements(entry):
    assert check_pip_requirement(entry) == entry


@pytest.mark.parametrize(
    "entry",
    HOSTILE
    + [
        "./local-dir",
        "https://example.org/pkg.whl",
        "pkg==1.0 --hash=x",
        "x-0.1-py3-none-any.whl",
        "pkg-1.0.tar.gz",
        "data.zip",
    ],
)
def test_pip_refuses(entry):
    with pytest.raises(KernelSpecError) as error:
        check_pip_requirement(entry)
    assert str(error.value).startswith("pip dependency ")
    assert "expected a PEP 508 requirement" in str(error.value) or "longer than" in str(error.value)


def test_pip_urls_only_where_allowed():
    entry = "mypkg @ https://example.org/mypkg-1.0-py3-none-any.whl"
    with pytest.raises(KernelSpecError, match="URLs are not allowed on this hub"):
        check_pip_requirement(entry)
    assert check_pip_requirement(entry, allow_urls=True) == entry


@pytest.mark.parametrize(
    "entry",
    [
        "numpy",
        "numpy=1.26",
        "numpy==1.26.4",
        "numpy>=1.24,<2",
        "numpy 1.26.*",
        "numpy=1.26.4=py311h64a7726_0",
        "conda-forge::numpy",
        "python=3.11",
        "numpy 1.26.4 py311*",
        "r-base>=4",
        "_libgcc_mutex",
    ],
)
def test_conda_match_specs(entry):
    assert check_conda_spec(entry) == entry


@pytest.mark.parametrize(
    "entry",
    HOSTILE
    + ["numpy[version='>=1.24']", "https://example.org/numpy.tar.bz2", "numpy >=1 | touch", "pkg touch /tmp/x"],
)
def test_conda_refuses(entry):
    with pytest.raises(KernelSpecError, match=r"^conda dependency "):
        check_conda_spec(entry)


@pytest.mark.parametrize(
    "entry",
    [
        "defaults",
        "conda-forge",
        "pytorch",
        "nvidia/label/cuda-12.1.0",
        "https://conda.example.org/channel",
        "https://conda.example.org:8443/a/b",
    ],
)
def test_channels(entry):
    assert check_channel(entry) == entry


@pytest.mark.parametrize(
    "entry",
    HOSTILE
    + [
        "http://conda.example.org/x",
        "https://user:pw@conda.example.org/x",
        "https://conda.example.org/x?token=1",
        "file:///tmp/channel",
        "../channel",
        "conda forge",
    ],
)
def test_channels_refuse(entry):
    with pytest.raises(KernelSpecError, match=r"^channel "):
        check_channel(entry)


def test_files_only_where_urls_are_allowed():
    assert check_pip_requirement("x-0.1-py3-none-any.whl", allow_urls=True) == "x-0.1-py3-none-any.whl"


def environment(context=None, **kernel_spec):
    return specs.validate(
        EnvironmentSpec,
        {"name": "env", "dockerImage": "img", "kernelSpec": kernel_spec},
        prefix="environment",
        context=context,
    )


def test_the_environment_model_names_each_bad_entry_and_its_rule():
    with pytest.raises(ApiError) as error:
        environment(
            name="py 3",
            channels=["defaults", "file:///x"],
            condaDependencies=["numpy; rm -rf ~"],
            pipDependencies=["pandas", "$(touch /tmp/x)"],
        )
    message = error.value.message
    problems = message.split("; environment.")
    assert len(problems) == 4
    prefix = "environment.kernelSpec."
    assert problems[0].startswith(prefix + "name: 'py 3' does not match")
    assert f"{prefix}channels.1: channel 'file:///x': is not a channel name" in message
    assert f"{prefix}condaDependencies.0: conda dependency 'numpy; rm -rf ~': is not a conda match spec" in message
    assert f"{prefix}pipDependencies.1: pip dependency '$(touch /tmp/x)': Expected package name" in message


def test_the_seam_model_allows_pip_urls_by_context():
    spec = {"name": "py3", "pipDependencies": ["mypkg @ https://example.org/mypkg-1.0-py3-none-any.whl"]}
    with pytest.raises(ValueError, match="URLs are not allowed"):
        KernelSpec.model_validate(spec)
    assert KernelSpec.model_validate(spec, context={"allow_pip_urls": True}).pipDependencies == spec["pipDependencies"]


def test_the_admin_setting_reaches_the_environment_model():
    entry = "mypkg @ https://example.org/mypkg-1.0-py3-none-any.whl"
    with pytest.raises(ApiError, match="URLs are not allowed on this hub"):
        environment(KernelSpecPolicy().context, name="py3", pipDependencies=[entry])
    config = Config()
    config.KernelSpecPolicy.allow_pip_urls = True
    allowed = environment(KernelSpecPolicy(config=config).context, name="py3", pipDependencies=[entry])
    assert allowed.kernelSpec.pipDependencies == [entry]
