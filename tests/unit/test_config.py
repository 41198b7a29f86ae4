"""Settings come from flags, then MYRMICA_* variables, then a YAML file, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from myrmica.config import ConfigError, load_settings, sandbox_settings


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


def test_the_work_directory_is_outside_the_data_directory_by_default(tmp_path: Path) -> None:
    default = load_settings(environ={})
    assert default.data_dir not in default.effective_work_dir.parents
    assert default.effective_work_dir.parent.parent.name == "myrmica"  # <user cache>/myrmica/work/<name>-<hash>
    one = load_settings({"data_dir": tmp_path / "one"}, environ={})
    two = load_settings({"data_dir": tmp_path / "two"}, environ={})
    assert one.effective_work_dir != two.effective_work_dir  # two servers never share one
    assert one.effective_work_dir.name.startswith("one-")
    assert tmp_path not in one.effective_work_dir.parents


def test_the_work_directory_comes_from_a_flag_or_the_environment(tmp_path: Path) -> None:
    from_env = load_settings(environ={"MYRMICA_WORK_DIR": str(tmp_path / "w1")})
    assert from_env.effective_work_dir == tmp_path / "w1"
    assert load_settings({"work_dir": tmp_path / "w2"}, environ={}).effective_work_dir == tmp_path / "w2"


@pytest.mark.parametrize("work", ["data/work", "data", "."])
def test_a_work_directory_holding_or_inside_the_data_directory_is_refused(tmp_path: Path, work: str) -> None:
    with pytest.raises(ConfigError, match="work_dir"):
        load_settings({"data_dir": tmp_path / "data", "work_dir": tmp_path / work}, environ={})


def test_sandbox_settings() -> None:
    assert load_settings(environ={}).sandbox == "auto" and load_settings(environ={}).sandbox_network
    settings = load_settings(environ={"MYRMICA_SANDBOX": "None", "MYRMICA_SANDBOX_NETWORK": "false"})
    assert (settings.sandbox, settings.sandbox_network) == ("none", False)
    with pytest.raises(ConfigError, match="sandbox must be one of auto, bwrap, none"):
        load_settings(environ={"MYRMICA_SANDBOX": "maybe"})


def test_sandboxed_tasks_do_not_see_the_servers_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYRMICA_CREDENTIALS", str(tmp_path / "creds.json"))  # where the CLI's credentials are
    config = tmp_path / "myrmica.yaml"
    config.write_text(f"db: sqlite:///{tmp_path / 'db' / 'm.db'}\nsandbox_hide: /srv/secrets\n")
    settings = load_settings({"data_dir": tmp_path / "data"}, config_file=config, environ={})
    hidden = sandbox_settings(settings).hide
    for path in (tmp_path / "data", tmp_path / "creds.json", config, tmp_path / "db" / "m.db",
                 tmp_path / "db" / "m.db-wal", Path("/srv/secrets")):
        assert str(path) in hidden
def test_the_tork_prefix_is_a_path_or_the_root() -> None:
    from myrmica.config import tork_prefix

    assert load_settings(environ={}).tork_prefix == "/tork"
    assert load_settings(environ={"MYRMICA_TORK_PREFIX": "/"}).tork_prefix == ""
    assert load_settings({"tork_prefix": "/dialects/tork/"}, environ={}).tork_prefix == "/dialects/tork"
    for bad in ("tork", "/a b", "//x", "/api", "/api/tork", "/x?y"):
        with pytest.raises(ConfigError):
            tork_prefix(bad)
