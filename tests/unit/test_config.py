"""Settings come from flags, then MYRMICA_* variables, then a YAML file, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from myrmica.config import ConfigError, load_settings


def test_defaults_are_safe() -> None:
    settings = load_settings(environ={})
    assert settings.host == "127.0.0.1" and settings.port == 7777 and settings.auth_enabled
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("myrmica.db")


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    config = tmp_path / "myrmica.yaml"
    config.write_text("port: 9000\nhost: 0.0.0.0\nauth:\n  enabled: false\ndb: sqlite:////tmp/from-file.db\n")
    from_file = load_settings(config_file=config, environ={})
    assert (from_file.port, from_file.host, from_file.auth_enabled) == (9000, "0.0.0.0", False)
    assert from_file.database_url == "sqlite:////tmp/from-file.db"
    from_env = load_settings(config_file=config, environ={"MYRMICA_PORT": "9100",
                                                          "MYRMICA_DATABASE_URL": "postgresql://x/y"})
    assert from_env.port == 9100 and from_env.database_url == "postgresql://x/y" and from_env.host == "0.0.0.0"
    from_flag = load_settings({"port": 9200}, config_file=config, environ={"MYRMICA_PORT": "9100"})
    assert from_flag.port == 9200


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("data_dir: " + str(tmp_path / "data") + "\n")
    settings = load_settings(environ={"MYRMICA_CONFIG": str(config)})
    assert settings.data_dir == tmp_path / "data"


@pytest.mark.parametrize(("text", "message"), [
    ("port: lots\n", "port"),
    ("nonsense_key: 1\n", "unknown setting"),
    ("- a list\n", "mapping"),
    ("port: [\n", "config file"),
])
def test_bad_config_files_are_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(config_file=config, environ={})


def test_bad_environment_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="auth_enabled"):
        load_settings(environ={"MYRMICA_AUTH_ENABLED": "maybe"})


def test_the_embedded_ants_methods_and_tags_come_comma_separated() -> None:
    settings = load_settings({"ant_tags": "builder, gpu"}, environ={"MYRMICA_ANT_METHODS": "shell,HTTP_GET"})
    assert settings.ant_tags == ("builder", "gpu") and settings.ant_methods == ("SHELL", "HTTP_GET")
    assert load_settings(environ={}).ant_tags == ()


@pytest.mark.parametrize("methods", ["SHELL,KUBERNETES", ","])
def test_methods_the_embedded_ant_cannot_run_are_refused(methods: str) -> None:
    with pytest.raises(ConfigError, match="ant_methods: the embedded worker cannot run"):
        load_settings({"ant_methods": methods}, environ={})
