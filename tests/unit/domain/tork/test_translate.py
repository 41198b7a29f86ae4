"""A Tork job as the core definition model, and the engine features it needs that the core lacks."""

from __future__ import annotations

import json

import pytest

from myrmica.domain.definition_model import JobDefinitionSpec
from myrmica.domain.graph import first_task, validate_graph
from myrmica.domain.tork.decode import decode
from myrmica.domain.tork.translate import (
    DOCKER_RUNTIME,
    ENGINE_GAPS,
    SHELL_RUNTIME,
    apply_defaults,
    parsed_definition,
    to_core,
)
from myrmica.domain.tork.validate import validate_job
from tests.support.examples import NO_SHARED_EXAMPLES, TORK_EXAMPLES

SEQUENTIAL = """
name: three steps
description: in order
inputs: {who: ants}
secrets: {token: s3cr3t}
defaults:
  timeout: 30s
  retry: {limit: 2}
tasks:
  - name: first
    image: ubuntu:mantic
    run: echo one
    env: {A: "1"}
  - name: second
    run: |
      if [ "$A" = 1 ]; then
        exit 1
      fi
    timeout: 5s
    retry: {limit: 4}
  - name: third
    run: echo "it's done"
"""


def _core(body: str, images: str | None = SHELL_RUNTIME):  # type: ignore[no-untyped-def]
    job = decode(body, "yaml")
    validate_job(job)
    return to_core(job, body, image_runtime=images)


def test_top_level_tasks_become_a_chain_of_shell_tasks() -> None:
    core = _core(SEQUENTIAL)
    tasks = core.document["tasks"]
    assert [t["task_type"] for t in tasks] == ["task-1", "task-2", "task-3"]
    assert [t.get("on_completed") for t in tasks] == ["task-2", "task-3", None]
    assert {t["method"] for t in tasks} == {"SHELL"}
    spec = parsed_definition(core).spec
    validate_graph(spec)
    assert first_task(spec) == "task-1"
    assert core.settings["task_names"] == {"task-1": "first", "task-2": "second", "task-3": "third"}
    assert core.settings["image_ignored"] is True
    assert core.needs == ()


def test_run_is_one_bash_script_line_kept_verbatim() -> None:
    tasks = _core(SEQUENTIAL).document["tasks"]
    assert tasks[0]["script"] == ["bash -c 'echo one'"]
    assert tasks[2]["script"] == ["bash -c 'echo \"it'\"'\"'s done\"'"]
    assert tasks[1]["script"][0].startswith("bash -c 'if [")


def test_env_timeout_and_retry_with_defaults_filling_empty_fields() -> None:
    tasks = _core(SEQUENTIAL).document["tasks"]
    assert tasks[0]["environment"] == {"A": "1"}
    assert (tasks[0]["timeout"], tasks[0]["retry"]) == ("30s", 2)
    assert (tasks[1]["timeout"], tasks[1]["retry"]) == ("5s", 4)
    spec = parsed_definition(_core(SEQUENTIAL)).spec
    assert spec.tasks[1].timeout == 5.0
    assert 0 < spec.tasks[1].delay_between_retries < 1e-6  # immediate, not the core's default 1-2 s


def test_inputs_and_secrets_become_request_params() -> None:
    core = _core(SEQUENTIAL)
    assert core.params == {"who": "ants"}
    assert core.secret_params == {"token": "s3cr3t"}


def test_the_stored_definition_is_the_core_json_not_the_tork_text() -> None:
    core = _core(SEQUENTIAL)
    parsed = parsed_definition(core)
    assert parsed.format == "json"
    assert json.loads(parsed.raw) == core.document
    assert isinstance(parsed.spec, JobDefinitionSpec)
    assert core.settings["job"]["tasks"][0]["name"] == "first"


def test_a_distinct_source_is_a_distinct_definition() -> None:
    a, b = _core(SEQUENTIAL), _core(SEQUENTIAL + "\n# changed\n")
    assert a.document["job_type"] != b.document["job_type"]
    assert a.document["job_type"].startswith("tork-three-steps-")
    assert len(a.document["job_type"]) <= 100


def test_defaults_apply_to_parallel_and_each_children_but_not_subjobs() -> None:
    defaults = {"timeout": "1m", "retry": {"limit": 3}, "queue": "q", "priority": 2, "limits": {"cpus": "1"}}
    parallel = apply_defaults({"name": "p", "parallel": {"tasks": [{"name": "a", "timeout": "5s"}]}}, defaults)
    assert parallel["parallel"]["tasks"][0] == {"name": "a", "timeout": "5s", "queue": "q", "retry": {"limit": 3},
                                                "priority": 2, "limits": {"cpus": "1"}}
    each = apply_defaults({"name": "e", "each": {"list": "x", "task": {"name": "c"}}}, defaults)
    assert each["each"]["task"]["timeout"] == "1m"
    subjob = {"name": "s", "subjob": {"name": "j", "tasks": [{"name": "a"}]}}
    assert apply_defaults(subjob, defaults) == subjob


@pytest.mark.parametrize(("snippet", "needs"), [
    ("  - name: a\n    var: x\n    run: echo -n 1 > $TORK_OUTPUT\n", ()),
    ("  - name: a\n    if: \"{{ inputs.go == 'yes' }}\"\n", ()),
    ("  - name: a\n    env: {X: '{{ inputs.x }}'}\n", ()),
    ("  - name: a\n    pre: [{name: p, run: x}]\n", ()),
    ("  - name: a\n    files: {a.py: 'print(1)'}\n", ()),
    ("  - name: a\n    queue: highcpu\n", ()),  # an ant tag (api/tork/queues.py)
    ("  - name: a\n    queue: \"{{ inputs.q }}\"\n", ()),
    ("  - name: a\n    priority: 3\n", ()),
    ("  - name: a\n    mounts: [{type: volume, target: /x}]\n", ("container",)),
    ("  - name: a\n    pre: [{name: p, run: x, entrypoint: [sh]}]\n", ("container",)),
    ("  - name: a\n    run: echo '{{ x }}'\n", ()),
    ("  - name: p\n    parallel: {tasks: [{name: a}]}\n", ()),
    ("  - name: e\n    each: {list: '{{ [1] }}', task: {name: c}}\n", ()),
    ("  - name: s\n    subjob: {name: j, detached: true, tasks: [{name: a}]}\n", ()),
    ("  - name: p\n    parallel: {tasks: [{name: a, limits: {cpus: '1'}}]}\n", ("container",)),
])
def test_what_the_engine_lacks_is_named(snippet: str, needs: tuple[str, ...]) -> None:
    core = _core("name: j\ntasks:\n" + snippet)
    assert core.needs == needs
    assert set(core.needs) <= set(ENGINE_GAPS)


def test_an_image_is_a_need_unless_a_runtime_takes_it() -> None:
    body = "name: j\ntasks:\n  - name: a\n    image: alpine\n    run: echo hi\n"
    assert _core(body, images=None).needs == ("image",)
    assert _core(body).document["tasks"][0]["method"] == "SHELL"
    docker = _core(body, images=DOCKER_RUNTIME).document["tasks"][0]
    assert (docker["method"], docker["container"], docker["script"]) == ("DOCKER", {"image": "alpine"},
                                                                        ["sh -c 'echo hi'"])
    sub = "name: j\ntasks:\n  - name: s\n    subjob:\n      name: c\n      tasks: [{name: a, image: x, run: y}]\n"
    assert _core(sub, images=None).needs == ("image",)


def test_composites_become_core_composites_with_their_own_task_types() -> None:
    core = _core("name: j\ntasks:\n  - name: p\n    parallel:\n      tasks:\n        - {name: a, run: x}\n"
                 "        - name: e\n          each: {list: '{{ [1, 2] }}', var: it, concurrency: 1, task: {name: c}}\n"
                 "  - name: s\n    var: out\n    subjob: {name: sj, inputs: {k: '{{ inputs.v }}'}, secrets: {t: x},"
                 " output: '{{ tasks.r }}', tasks: [{name: r, var: r, run: y}]}\n")
    parallel, subjob = core.document["tasks"]
    assert [c["task_type"] for c in parallel["parallel"]] == ["task-1.1", "task-1.2"]
    fan_out = parallel["parallel"][1]["fan_out"]
    assert (fan_out["items"], fan_out["item_var"], fan_out["max_parallel"], fan_out["fail_fast"]) == \
        ("{{ [1, 2] }}", "it", 1, True)
    assert fan_out["task"]["task_type"] == "task-1.2.each"
    assert (subjob["method"], subjob["result_var"]) == ("FORK_JOB", "out")
    child = subjob["child_job"]
    assert (child["dialect"], child["params"], child["secret_params"], child["detached"]) == \
        ("tork", {"k": "{{ inputs.v }}"}, {"t": "x"}, False)
    assert child["definition"]["output"] == "{{ tasks.r }}"
    assert child["dialect_settings"]["job"]["secrets"] == {"t": "[REDACTED]"}
    spec = parsed_definition(core).spec
    validate_graph(spec)
    assert core.settings["task_names"]["task-1.2.each"] == "c"


def test_pre_and_post_are_lines_around_the_task_with_their_own_env() -> None:
    core = _core("name: j\ntasks:\n  - name: a\n    env: {W: main}\n    run: echo $W\n"
                 "    pre: [{name: p, env: {W: '{{ inputs.x }}'}, run: echo pre}]\n"
                 "    post: [{name: q, run: echo post}]\n")
    task = core.document["tasks"][0]
    pre, main, post = task["script"]
    assert "TORK_AUXPRE0_W" in pre and 'W="$TORK_AUXPRE0_W"' in pre and "env -i" in pre and "mktemp -d" in pre
    assert main == "env -u TORK_AUXPRE0_W bash -c 'echo $W'"
    assert post.endswith("bash -c 'echo post'; rc=$?; cd / && rm -rf \"$d\"; exit $rc")
    assert task["environment"] == {"W": "main", "TORK_AUXPRE0_W": "{{ inputs.x }}"}


def test_a_priority_is_the_jobs_highest_and_a_templated_queue_is_rendered_later() -> None:
    core = _core("name: j\ndefaults: {priority: 2}\ntasks:\n  - name: a\n    priority: 7\n"
                 "  - name: b\n    queue: '{{ inputs.q }}'\n")
    assert core.settings["priority"] == 7
    assert core.document["tasks"][1]["queue"] == "{{ inputs.q }}" and "tags" not in core.document["tasks"][1]


def test_a_queue_is_an_ant_tag() -> None:
    core = _core("name: j\ntasks:\n  - name: a\n    run: x\n    queue: HighCPU\n  - name: b\n    run: y\n"
                 "    queue: default\n")
    assert core.document["tasks"][0]["tags"] == ["highcpu"]
    assert "tags" not in core.document["tasks"][1]


def test_job_level_needs() -> None:
    core = _core("name: j\noutput: '{{ tasks.x }}'\nautoDelete: {after: 1h}\nwebhooks: [{url: http://h}]\n"
                 "tasks:\n  - name: a\n")
    assert core.needs == ()  # webhooks (api/tork/webhooks.py), output and autoDelete run
    assert core.document["delete_after"] == "1h"


def test_results_expressions_if_and_files_map_to_the_core() -> None:
    core = _core("name: j\noutput: '{{ tasks.x }}!'\ntasks:\n"
                 "  - name: a\n    var: x{{ inputs.n }}\n    if: \"{{ inputs.go }}\"\n    run: echo '{{ raw }}'\n"
                 "    env: {X: '{{ secrets.s }}'}\n    files: {a.py: 'print(1)'}\n")
    assert (core.document["templates"], core.document["output"]) == ("expr", "{{ tasks.x }}!")
    task = core.document["tasks"][0]
    assert task["script"] == ["bash -c 'echo '\"'\"'{{ raw }}'\"'\"''"]  # kept as it is: the core renders no script
    assert (task["output_file_env"], task["result_var"], task["run_if"]) == ("TORK_OUTPUT", "x{{ inputs.n }}",
                                                                              "{{ inputs.go }}")
    assert task["environment"] == {"X": "{{ secrets.s }}"} and task["files"] == {"a.py": "print(1)"}
    spec = parsed_definition(core).spec
    assert spec.templates == "expr" and spec.tasks[0].files == {"a.py": "print(1)"}


@pytest.mark.skipif(not TORK_EXAMPLES.is_dir(), reason=NO_SHARED_EXAMPLES)
def test_every_tork_example_translates_to_a_valid_core_definition() -> None:
    expected = {"hello.yaml": (), "timeout.yaml": (), "parallel.yaml": (), "each.yaml": (), "subjob.yaml": (),
                "retry.yaml": ("container",), "prepost.yaml": ("container",)}
    for path in sorted(TORK_EXAMPLES.glob("*.yaml")):
        source = path.read_text()
        core = _core(source)
        validate_graph(parsed_definition(core).spec)
        if path.name in expected:
            assert core.needs == expected[path.name], path.name
