"""Scenario validation and serialisation: errors name the dotted key; round trips are exact."""

from __future__ import annotations

import pytest

from syntony.errors import InputError, ParameterError
from syntony.model.precision import ClipGain, PrecisionGain, SeedGain
from syntony.model.scenario import PerceptionConfig, Scenario, builtin_names, parse_override


def test_defaults_and_round_trips():
    s = Scenario()
    assert Scenario.from_dict(s.to_dict()) == s
    assert Scenario.from_toml(s.to_toml()) == s
    assert Scenario.from_yaml(s.to_yaml()) == s


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_loads_round_trips_and_describes_itself(name):
    s = Scenario.load(f"builtin:{name}")
    assert s.name == name and len(s.description) > 20
    assert Scenario.from_toml(s.to_toml()) == s


def test_there_are_nine_builtins():
    assert builtin_names() == sorted(
        ["dyad_synchrony", "concert_crowd", "social_media_outrage", "overt_vs_covert", "sensor_sharing",
         "trauma", "synchronized_breathing", "caregiver_infant", "crowd_filter"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("[agents]\nkapa = 1.0", "agents.kapa", "known key"),
        ("[agents]\nkappa = -1.0", "agents.kappa", ">= 0"),
        ("[agents]\nn = 'many'", "agents.n", "an integer"),
        ("[agents]\nn = 2.5", "agents.n", "an integer"),
        ("[modes]\nenabled = 1", "modes.enabled", "true or false"),
        ("[perception]\nrho0 = 1.5", "perception.rho0", "[-1, 1]"),
        ("[perception]\nupdate = 'fast'", "perception.update", "'precision'"),
        ("[[channels]]\nname = 'a'\nobservability = 0.0", "channels[0].observability", "(0, 1]"),
        ("[[events]]\nkind = 'step'\nchannel = 'fear'", "events[0].channel", "arousal"),
        ("[[events]]\nonset = -1.0", "events[0].onset", ">= 0"),
        ("[[technology]]\nnetwork = { kind = 'star' }", "technology[0].network.kind", "one of"),
        ("[trauma]\nagents = [500]", "trauma.agents", "agent indices"),
        ("[network]\nkind = 'stochastic_block'\nsizes = [10, 10]", "network.sizes", "adding up"),
        ("model = 'kuramoto'", "model", "'agents'"),
        ("agents = 3", "agents", "a table"),
    ],
)
def test_bad_values_raise_parameter_error_naming_the_key(text, key, expected):
    with pytest.raises(ParameterError) as info:
        Scenario.from_toml(text)
    assert info.value.name == key
    assert expected in str(info.value)


def test_malformed_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("[agents\nn = 3\n")
    with pytest.raises(InputError, match=r"broken\.toml:1: malformed TOML"):
        Scenario.from_file(bad)
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("agents:\n  n: [1, 2\n")
    with pytest.raises(InputError, match=r"broken\.yaml:\d+: malformed YAML"):
        Scenario.from_file(bad_yaml)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[agents]\nkappa = 'high'\n")
    with pytest.raises(ParameterError, match=r"wrong\.toml:2: agents\.kappa: expected a number"):
        Scenario.from_file(wrong)
    with pytest.raises(InputError, match="not found"):
        Scenario.from_file(tmp_path / "missing.toml")
    with pytest.raises(InputError, match="format"):
        (tmp_path / "s.json").write_text("{}")
        Scenario.from_file(tmp_path / "s.json")
    with pytest.raises(ParameterError, match="builtin:"):
        Scenario.load("builtin:nope")


def test_yaml_and_toml_files_load(tmp_path):
    s = Scenario.builtin("trauma")
    (tmp_path / "t.yaml").write_text(s.to_yaml())
    (tmp_path / "t.toml").write_text(s.to_toml())
    assert Scenario.from_file(tmp_path / "t.yaml") == s == Scenario.from_file(tmp_path / "t.toml")


def test_overrides_by_dotted_key():
    s = Scenario.builtin("synchronized_breathing")
    t = s.with_overrides(
        ["agents.kappa=2", "events.1.shared_phase=false", "perception.update=seed", "name=x"]
    )
    assert t.agents.kappa == 2.0 and t.events[1].shared_phase is False
    assert t.perception.update == "seed" and t.name == "x"
    assert s.agents.kappa != 2.0  # the original is untouched (frozen)
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    assert parse_override("name=hello world") == ("name", "hello world")
    with pytest.raises(ParameterError, match=r"agents\.kapa"):
        s.with_overrides(["agents.kapa=1"])
    with pytest.raises(ParameterError, match="--set"):
        parse_override("agents.kappa")
    with pytest.raises(ParameterError, match=r"events\.7"):
        s.with_overrides({"events.7.onset": 1.0})
    with pytest.raises(ParameterError, match=r"agents\.kappa"):
        s.with_overrides({"agents.kappa": "x"})


def test_switches_map_once_to_policy_objects():
    assert isinstance(PerceptionConfig().gain_policy(), PrecisionGain)
    assert isinstance(PerceptionConfig(gain="seed").gain_policy(), SeedGain)
    clip = PerceptionConfig(gain="seed", on_unstable="clip", max_gain=1.5).gain_policy()
    assert isinstance(clip, ClipGain) and clip.max_gain == 1.5


TOML_CASES = [
    # (text, line, key, suggestion)
    ('name = "x"\n\n[agents]\nn = 5\nkapa = 2.0\n', 5, "agents.kapa", "kappa"),
    ('name = "x"\n[agentz]\nn = 3\n', 2, "agentz", "agents"),
    ('[[events]]\nkind = "step"\n\n[[events]]\nkind = "sine"\nonsett = 3\n', 6,
     "events[1].onsett", "onset"),
    ('name = "x"\nagents = { n = 5, kapa = 1 }\n', 2, "agents.kapa", "kappa"),
    ('name = "x"\nagents.kapa = 1  # a dotted key\n', 2, "agents.kapa", "kappa"),
    ('[[technology]]\nname = "tv"\n[technology.network]\nkind = "ring"\nkk = 2\n', 5,
     "technology[0].network.kk", "k"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "key", "suggestion"), TOML_CASES)
def test_unknown_toml_key_gets_its_line_and_a_suggestion(tmp_path, text, line, key, suggestion):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ParameterError) as info:
        Scenario.from_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {key}: unknown key; did you mean {suggestion!r}?")
    assert "\n" not in message


def test_unknown_yaml_key_gets_its_line_and_a_suggestion(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nevents:\n  - kind: step\n  - kind: step\n    onsett: 2\n")
    with pytest.raises(ParameterError, match=rf"^{path}:5: events\[1\]\.onsett: unknown key; "
                       "did you mean 'onset'\\?"):  # fmt: skip
        Scenario.from_file(path)
    path.write_text("name: x\nagents:\n  n: 5\n  kappa: -1\n")
    with pytest.raises(ParameterError, match=rf"^{path}:4: agents\.kappa: expected"):
        Scenario.from_file(path)


def test_unknown_key_without_a_file_still_gets_a_suggestion():
    with pytest.raises(ParameterError, match=r"^agents\.kapa: unknown key; did you mean 'kappa'"):
        Scenario.builtin("trauma").with_overrides(["agents.kapa=1"])
    with pytest.raises(ParameterError, match="unknown key \\(known keys: name, description"):
        Scenario.from_dict({"zzz": 1})
