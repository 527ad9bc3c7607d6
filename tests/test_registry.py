import pytest

from rescore.models.registry import Registry


def test_register_get_and_names_sorted():
    reg = Registry("widget")

    @reg.register("b", size=2)
    def b():
        return "B"

    @reg.register("a")
    def a():
        return "A"

    assert reg.names() == ["a", "b"]
    assert reg.get("b")() == "B"
    assert reg.info("b") == {"size": 2}
    assert "a" in reg and "c" not in reg


def test_duplicate_name_raises():
    reg = Registry("widget")
    reg.register("a")(lambda: 1)
    with pytest.raises(KeyError, match="already registered"):
        reg.register("a")(lambda: 2)


def test_unknown_name_lists_registered_and_closest():
    reg = Registry("model")
    for name in ("resnet20", "resnet56", "plain20"):
        reg.register(name)(lambda: None)
    with pytest.raises(KeyError) as err:
        reg.get("resnet65")
    message = str(err.value)
    assert "resnet65" in message and "'resnet56'" in message
    assert "plain20, resnet20, resnet56" in message
