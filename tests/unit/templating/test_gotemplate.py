"""Go text/template semantics of myrmica.templating.gotemplate (expected outputs are Go's)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from myrmica.templating.gotemplate import (
    DEFAULT_FUNCTIONS,
    Limits,
    Template,
    TemplateError,
    TemplateRuntimeError,
    TemplateSyntaxError,
    has_template,
    render,
)


def r(source: str, **data: Any) -> str:
    return render(source, data)


def syntax_error(source: str) -> TemplateSyntaxError:
    with pytest.raises(TemplateSyntaxError) as info:
        Template.parse(source)
    return info.value


def runtime_error(source: str, limits: Limits | None = None, **data: Any) -> TemplateRuntimeError:
    with pytest.raises(TemplateRuntimeError) as info:
        render(source, data, limits=limits or Limits())
    return info.value


# ---------------------------------------------------------------- text, fields, comments, trimming


def test_plain_text_is_copied_verbatim() -> None:
    assert r("") == ""
    assert r("no actions here: { } }} {") == "no actions here: { } }} {"


def test_fields_and_nested_fields() -> None:
    assert r("{{.Name}}/{{.A.B.C}}", Name="x", A={"B": {"C": 3}}) == "x/3"


def test_missing_key_renders_no_value() -> None:
    assert r("[{{.Missing}}]") == "[<no value>]"
    assert r("[{{.Missing.Deeper}}]") == "[<no value>]"
    assert r("[{{.X}}]", X=None) == "[<no value>]"


def test_dot_prints_the_whole_map_with_sorted_keys() -> None:
    assert r("{{.}}", b=2, a=1) == "map[a:1 b:2]"


def test_comments_are_dropped() -> None:
    assert r("a{{/* a comment\nover lines */}}b") == "ab"
    assert r("a  {{- /* c */ -}}  b") == "ab"


def test_comment_must_close_at_delimiter() -> None:
    assert "comment ends before closing delimiter" in str(syntax_error("{{/* c */ x}}"))


def test_trim_markers_remove_all_adjacent_whitespace() -> None:
    assert r("a \n\t {{- .X -}} \n b", X="X") == "aXb"
    assert r("a {{- .X }} b", X="X") == "aX b"
    assert r("a {{ .X -}} \n\n b", X="X") == "a Xb"


def test_minus_without_space_is_a_number_not_a_trim_marker() -> None:
    assert r("a {{-3}} b") == "a -3 b"


# ---------------------------------------------------------------- literals


def test_string_escapes() -> None:
    assert r('{{"a\\tb\\n"}}') == "a\tb\n"
    assert r('{{"\\u00e9\\x41\\101\\\\\\""}}') == 'éAA\\"'


def test_raw_strings_keep_backslashes_and_newlines() -> None:
    assert r("{{`a\\n\nb`}}") == "a\\n\nb"


def test_integer_literals() -> None:
    assert r("{{0x1F}} {{0o17}} {{017}} {{1_000}} {{-5}} {{+3}} {{0}}") == "31 15 15 1000 -5 3 0"


def test_float_literals() -> None:
    assert r("{{1.5}} {{1e3}} {{.5}} {{-2.25}}") == "1.5 1000 0.5 -2.25"


def test_bool_and_char_literals() -> None:
    assert r("{{true}} {{false}} {{'a'}} {{printf \"%c\" 'x'}}") == "true false 97 x"


def test_nil_is_not_a_command() -> None:
    assert "nil is not a command" in str(runtime_error("{{nil}}"))


def test_bad_string_escape_is_a_syntax_error() -> None:
    assert "invalid syntax" in str(syntax_error('{{"\\q"}}'))


# ---------------------------------------------------------------- pipelines


def test_pipeline_passes_value_as_last_argument() -> None:
    assert r('{{"hi" | printf "%s!"}}') == "hi!"
    assert r('{{.X | printf "%s-%s" "a"}}', X="X") == "a-X"
    assert r('{{3 | Add 4 | printf "%03d"}}') == "007"


def test_parenthesised_pipelines() -> None:
    assert r("{{Add (Add 1 2) (Add 3 4)}}") == "10"


def test_field_chain_on_parenthesised_pipeline() -> None:
    assert r('{{(Dict "a" (Dict "b" 7)).a.b}}') == "7"


def test_non_executable_command_later_in_pipeline() -> None:
    assert "non executable command in pipeline stage 2" in str(syntax_error("{{1 | 2}}"))


def test_arguments_to_a_non_function() -> None:
    assert "can't give argument to non-function" in str(runtime_error('{{"x" 1}}'))
    assert "X is not a method but has arguments" in str(runtime_error("{{.X 1}}", X=1))


def test_operands_need_separating_spaces() -> None:
    assert "unexpected" in str(syntax_error('{{printf "a""b"}}'))


# ---------------------------------------------------------------- variables


def test_declare_prints_nothing_and_variable_prints_value() -> None:
    assert r("{{$x := 5}}[{{$x}}]") == "[5]"


def test_assignment() -> None:
    assert r("{{$x := 1}}{{$x = 2}}{{$x}}") == "2"


def test_assignment_inside_block_changes_outer_variable() -> None:
    assert r("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}") == "2"


def test_dollar_is_the_root_data() -> None:
    assert r("{{range .L}}{{$.Name}}{{.}} {{end}}", L=[1, 2], Name="n") == "n1 n2 "


def test_variable_field_access() -> None:
    assert r('{{$m := Dict "k" (Dict "j" "v")}}{{$m.k.j}}') == "v"


def test_variables_end_with_their_block() -> None:
    error = syntax_error("{{if true}}{{$y := 1}}{{end}}{{$y}}")
    assert 'undefined variable "$y"' in str(error) or "undefined variable '$y'" in str(error)


def test_range_variables_do_not_leak() -> None:
    assert "undefined variable" in str(syntax_error("{{range $v := .L}}{{end}}{{$v}}"))


def test_assigning_an_undeclared_variable_fails() -> None:
    assert "undefined variable" in str(syntax_error("{{$z = 1}}"))


# ---------------------------------------------------------------- if / with


def test_if_else_if_else() -> None:
    source = "{{if eq .N 1}}one{{else if eq .N 2}}two{{else}}many{{end}}"
    assert [r(source, N=n) for n in (1, 2, 3)] == ["one", "two", "many"]


@pytest.mark.parametrize("value", [0, 0.0, "", [], {}, None, False])
def test_falsy_values(value: Any) -> None:
    assert r("{{if .V}}T{{else}}F{{end}}", V=value) == "F"


@pytest.mark.parametrize("value", [1, -1, 0.5, "a", [0], {"a": 0}, True, object()])
def test_truthy_values(value: Any) -> None:
    assert r("{{if .V}}T{{else}}F{{end}}", V=value) == "T"


def test_if_on_missing_key_is_false() -> None:
    assert r("{{if .Nope}}T{{else}}F{{end}}") == "F"


def test_formicary_except_example() -> None:
    source = "except: {{if gt .JobID 5}} true {{end}}"
    assert r(source, JobID=3) == "except: "
    assert r(source, JobID=7) == "except:  true "


def test_formicary_platform_example() -> None:
    source = "    {{ if .IsWindowsPlatform }}\n    - ls -l\n    {{ else }}\n    - find /tmp\n    {{ end }}\n"
    assert r(source, IsWindowsPlatform=True) == "    \n    - ls -l\n    \n"
    assert r(source, IsWindowsPlatform=False) == "    \n    - find /tmp\n    \n"


def test_if_with_declaration() -> None:
    assert r("{{if $v := .X}}got {{$v}}{{end}}", X="x") == "got x"


def test_with_sets_dot() -> None:
    assert r("{{with .User}}{{.Name}}{{end}}", User={"Name": "ann"}) == "ann"


def test_with_else_with_else() -> None:
    source = "{{with .A}}a={{.}}{{else with .B}}b={{.}}{{else}}none{{end}}"
    assert r(source, A=1) == "a=1"
    assert r(source, B=2) == "b=2"
    assert r(source) == "none"


# ---------------------------------------------------------------- range


def test_range_over_list_sets_dot() -> None:
    assert r("{{range .L}}[{{.}}]{{end}}", L=["a", "b"]) == "[a][b]"


def test_range_with_index_and_value() -> None:
    assert r("{{range $i, $v := .L}}{{$i}}={{$v}} {{end}}", L=["a", "b"]) == "0=a 1=b "


def test_range_with_one_variable_gets_the_element() -> None:
    assert r("{{range $v := .L}}{{$v}}{{end}}", L=["x", "y"]) == "xy"


def test_range_over_map_is_in_sorted_key_order() -> None:
    assert r("{{range $k, $v := .M}}{{$k}}:{{$v}},{{end}}", M={"b": 2, "a": 1, "c": 3}) == "a:1,b:2,c:3,"
    assert r("{{range .M}}{{.}}{{end}}", M={"b": 2, "a": 1}) == "12"


def test_range_over_int() -> None:
    assert r("{{range 3}}{{.}}{{end}}") == "012"
    assert r("{{range $i := 3}}<{{$i}}>{{end}}") == "<0><1><2>"


def test_range_over_int_with_two_variables_fails() -> None:
    assert "iterate over more than one variable" in str(runtime_error("{{range $i, $v := 3}}{{end}}"))


def test_range_else_for_empty_and_missing() -> None:
    source = "{{range .L}}x{{else}}empty{{end}}"
    assert r(source, L=[]) == "empty"
    assert r(source) == "empty"
    assert r("{{range 0}}x{{else}}none{{end}}") == "none"


def test_range_break_and_continue() -> None:
    source = "{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}"
    assert r(source, L=[1, 2, 3, 4, 5]) == "13"


def test_break_outside_range_is_a_syntax_error() -> None:
    assert "{{break}} outside {{range}}" in str(syntax_error("{{if true}}{{break}}{{end}}"))
    assert "{{continue}} outside {{range}}" in str(syntax_error("{{continue}}"))


def test_range_over_a_string_fails_naming_the_expression_not_the_value() -> None:
    message = str(runtime_error("{{range .S}}{{end}}", S="abc-secret"))
    assert "range can't iterate over .S (of type string)" in message and "abc-secret" not in message


def test_errors_name_the_variable_never_its_value() -> None:
    """A template error ends up in a request's error message: the data it read may be a secret."""
    secret = "hunter2-s3cret"
    cases = {
        "{{ atoi .Token }}": "atoi: parsing .Token: invalid syntax",
        "{{ .Token | atoi }}": "atoi: parsing .Token: invalid syntax",
        "{{ $t := .Token }}{{ atof $t }}": "atof: parsing $t: invalid syntax",
        "{{ formatTime .Token \"2006\" }}": "cannot parse .Token as an RFC 3339 time",
        "{{ range $i, $c := .Token }}{{ end }}": "range can't iterate over .Token",
        "{{ boom .Token }}": "error calling boom: no good: .Token",
    }

    def boom(value: str) -> str:
        raise ValueError(f"no good: {value}")

    for source, expected in cases.items():
        with pytest.raises(TemplateRuntimeError) as info:
            render(source, {"Token": secret}, functions={"boom": boom})
        assert expected in str(info.value) and secret not in str(info.value), (source, str(info.value))


def test_range_assignment_form() -> None:
    assert r("{{$v := 0}}{{range $v = .L}}{{end}}{{$v}}", L=[7, 8]) == "8"


def test_formicary_iterate_tasks_example() -> None:
    source = (
        "tasks:\n"
        "{{- range $val := Iterate 5 }}\n"
        "- task_type: task-{{$val}}\n"
        "  {{ if lt $val 4 }}\n"
        "  on_completed: task-{{ Add $val 1}}\n"
        "  {{ end  }}\n"
        "{{ end  }}\n"
    )
    out = r(source)
    assert out.startswith("tasks:\n- task_type: task-0\n")
    assert [line for line in out.splitlines() if line.startswith("- task_type")] == [
        f"- task_type: task-{i}" for i in range(5)
    ]
    assert [line.strip() for line in out.splitlines() if "on_completed" in line] == [
        f"on_completed: task-{i + 1}" for i in range(4)
    ]


# ---------------------------------------------------------------- define / template / block


def test_define_and_template_with_pipeline() -> None:
    source = '{{define "greet"}}hi {{.}}{{end}}{{template "greet" .Name}}!'
    assert r(source, Name="bob") == "hi bob!"


def test_template_without_pipeline_has_nil_dot() -> None:
    assert r('{{define "t"}}[{{.}}]{{end}}{{template "t"}}') == "[<no value>]"


def test_block_defines_and_executes() -> None:
    assert r('{{block "b" .X}}<{{.}}>{{end}} {{template "b" 2}}', X=1) == "<1> <2>"


def test_template_gets_a_fresh_variable_scope() -> None:
    assert "undefined variable" in str(syntax_error('{{$x := 1}}{{define "t"}}{{$x}}{{end}}'))
    assert r('{{define "t"}}{{$.A}}{{end}}{{template "t" .}}', A="a") == "a"


def test_undefined_template_is_a_runtime_error() -> None:
    assert 'template "nope" not defined' in str(runtime_error('{{template "nope"}}'))


def test_recursive_template_hits_depth_limit() -> None:
    error = runtime_error('{{define "r"}}x{{template "r" .}}{{end}}{{template "r" .}}')
    assert "maximum template depth" in str(error)


# ---------------------------------------------------------------- printing values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4.881, "4.881"),
        (14.123, "14.123"),
        (1e6, "1e+06"),
        (50.0, "50"),
        (100000.0, "100000"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_floats_print_like_go(value: float, expected: str) -> None:
    assert r("{{.V}}", V=value) == expected


def test_collections_print_like_go() -> None:
    data = {"L": ["a", "b", "c"], "N": [1, [2, 3], None, True], "M": {"b": [1], "a": {"x": "y"}}}
    assert r("{{.L}} {{.N}} {{.M}}", **data) == "[a b c] [1 [2 3] <nil> true] map[a:map[x:y] b:[1]]"


def test_datetime_prints_like_go_time() -> None:
    moment = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert r("{{.T}}", T=moment) == "2024-01-02 03:04:05 +0000 UTC"


# ---------------------------------------------------------------- comparison and logic builtins


def test_eq_with_several_arguments_and_missing_values() -> None:
    assert r('{{eq 1 1}} {{eq 1 2 1}} {{eq 1 2 3}} {{eq .Missing "x"}} {{eq .Missing nil}}') == (
        "true true false false true"
    )
    assert r('{{eq "a" "a"}} {{eq true false}} {{eq 1 1.0}}') == "true false true"


def test_eq_rejects_incompatible_and_non_comparable_types() -> None:
    assert "incompatible types for comparison" in str(runtime_error('{{eq 1 "1"}}'))
    assert "non-comparable" in str(runtime_error("{{eq .L .L}}", L=[1]))


def test_ne() -> None:
    assert r('{{ne 1 2}} {{ne "a" "a"}}') == "true false"


def test_ordering_comparisons() -> None:
    assert r("{{lt 1 2}} {{le 2 2}} {{gt 3 2}} {{ge 1 2}}") == "true true true false"
    assert r('{{lt "abc" "abd"}} {{gt 2.5 2}} {{lt 1 1.5}} {{ge 2.0 2}}') == "true true true true"


def test_ordering_rejects_bad_types() -> None:
    assert "incompatible types for comparison" in str(runtime_error('{{lt 1 "2"}}'))
    assert "invalid type for comparison" in str(runtime_error("{{lt true false}}"))
    assert "invalid type for comparison" in str(runtime_error("{{gt .Missing 1}}"))


def test_and_or_return_operands_like_go() -> None:
    assert r('{{and 1 0 2}}|{{and 1 2}}|{{or 0 "" "x"}}|{{or 0 ""}}|{{or .Missing "d"}}') == "0|2|x||d"


def test_and_or_short_circuit() -> None:
    assert r("{{or true (index .L 10)}} {{and false (index .L 10)}}", L=[]) == "true false"
    assert r("{{true | and 1}} {{0 | or false}}") == "true 0"


def test_not() -> None:
    assert r('{{not 0}} {{not "x"}} {{not .Missing}}') == "true false true"


# ---------------------------------------------------------------- data builtins


def test_len() -> None:
    assert r('{{len "abc"}} {{len .L}} {{len .M}}', L=[1, 2], M={"a": 1}) == "3 2 1"
    assert "len of type int" in str(runtime_error("{{len 3}}"))


def test_index() -> None:
    data = {"L": ["a", ["b", "c"]], "M": {"k": {"j": 5}}}
    assert r('{{index .L 0}} {{index .L 1 1}} {{index .M "k" "j"}} {{index .M "nope"}}', **data) == ("a c 5 <no value>")


def test_index_errors() -> None:
    assert "index out of range: 3" in str(runtime_error("{{index .L 3}}", L=[1, 2, 3]))
    assert "index of untyped nil" in str(runtime_error("{{index .Missing 0}}"))
    assert "cannot index slice/array with type string" in str(runtime_error('{{index .L "a"}}', L=[1]))


def test_slice() -> None:
    assert r("{{slice .L 1}} {{slice .L 1 2}} {{slice .L}} {{slice .L 0 1 2}}", L=[1, 2, 3]) == (
        "[2 3] [2] [1 2 3] [1]"
    )
    assert r('{{slice "hello" 1 3}}') == "el"


def test_slice_errors() -> None:
    assert "invalid slice index: 2 > 1" in str(runtime_error("{{slice .L 2 1}}", L=[1, 2, 3]))
    assert "cannot 3-index slice a string" in str(runtime_error('{{slice "abc" 0 1 2}}'))


# ---------------------------------------------------------------- print builtins


def test_print_adds_spaces_only_between_non_strings() -> None:
    assert r('{{print 1 2 "a" "b" 3}}') == "1 2ab3"
    assert r("{{print nil}} {{print .Missing}}") == "<nil> <nil>"


def test_println() -> None:
    assert r('{{println 1 "a"}}') == "1 a\n"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{printf "%s|%d|%v|%q" "a" 42 1.5 "b\\"c"}}', 'a|42|1.5|"b\\"c"'),
        (
            '{{printf "%f|%.2f|%8.3f|%-8.2f|%08.3f" 3.14159 3.14159 3.14159 3.14159 3.14159}}',
            ("3.141590|3.14|   3.142|3.14    |0003.142"),
        ),
        ('{{printf "%+.1f|%.0f|%6.2f%%" 2.0 2.5 12.3456}}', "+2.0|2| 12.35%"),
        ('{{printf "%x|%X|%#x|%x|%o|%#o|%b" 255 255 255 "hi" 8 8 5}}', "ff|FF|0xff|6869|10|010|101"),
        ('{{printf "%5d|%-5d|%05d|%+d|%05d|%x" 42 42 42 42 -42 -255}}', "   42|42   |00042|+42|-0042|-ff"),
        (
            '{{printf "%t|%%|%e|%g|%g|%.3g" true 1234.5678 1234.5678 1e21 1234.5678}}',
            ("true|%|1.234568e+03|1234.5678|1e+21|1.23e+03"),
        ),
        ('{{printf "%c|%U|%q" 65 128512 65}}', "A|U+1F600|'A'"),
        (
            '{{printf "%T %T %T %T %T %T" 1 "a" 1.5 true .L .M}}',
            ("int string float64 bool []interface {} map[string]interface {}"),
        ),
        ('{{printf "%v|%q|%d" .S .S .N}}', '[a b]|["a" "b"]|[1 2]'),
        ('{{printf "%5s|%-5s|%.2s|%v" "abc" "abc" "abc" nil}}', "  abc|abc  |ab|<nil>"),
        ('{{printf "%*d|%-*d|" 5 42 4 7}}', "   42|7   |"),
    ],
)
def test_printf_verbs(source: str, expected: str) -> None:
    assert r(source, L=[1], M={}, S=["a", "b"], N=[1, 2]) == expected


def test_printf_quoting_flags() -> None:
    assert r('{{printf "%q|%+q|%#q|% x" "é" "é" "a" "hi"}}') == '"é"|"\\u00e9"|`a`|68 69'


def test_printf_error_annotations() -> None:
    assert r('{{printf "%d|%s|%d" "x" 5 nil}}') == "%!d(string=x)|%!s(int=5)|%!d(<nil>)"
    assert r('{{printf "%d %d" 1}}') == "1 %!d(MISSING)"
    assert r('{{printf "%d" 1 "a"}}') == "1%!(EXTRA string=a)"
    assert r('{{printf "abc%"}}') == "abc%!(NOVERB)"


def test_html_escapes_like_go() -> None:
    assert r("{{html .S}}", S='<a href="x">&\'') == "&lt;a href=&#34;x&#34;&gt;&amp;&#39;"
    assert r("{{html .Missing}}") == "&lt;no value&gt;"
    assert r('{{html "a" 1 2}}') == "a1 2"


def test_js_escapes_like_go() -> None:
    assert r("{{js .S}}", S="a'b\"c<d>&=\\\n") == "a\\'b\\\"c\\u003Cd\\u003E\\u0026\\u003D\\\\\\u000A"


def test_urlquery_escapes_like_go() -> None:
    assert r('{{urlquery "a b&c=d/é"}}') == "a+b%26c%3Dd%2F%C3%A9"
    assert r('{{"x y" | urlquery}}') == "x+y"


def test_call_is_not_available() -> None:
    assert 'function "call" not defined' in str(syntax_error("{{call .F}}"))
    assert "call" not in DEFAULT_FUNCTIONS


# ---------------------------------------------------------------- Formicary / Sprig functions


def test_dict() -> None:
    assert r('{{$d := Dict "a" 1 "b" "x"}}{{$d.b}} {{$d}} {{len (Dict)}}') == "x map[a:1 b:x] 0"
    assert "invalid dict call" in str(runtime_error('{{Dict "a"}}'))
    assert "dict keys must be strings" in str(runtime_error("{{Dict 1 2}}"))


def test_iterate() -> None:
    assert r("{{range Iterate 3}}{{.}}{{end}}|{{Iterate 2}}|{{range Iterate 0}}x{{else}}none{{end}}") == (
        "012|[0 1]|none"
    )


def test_iterate_refuses_negative_and_huge_counts() -> None:
    assert "must not be negative" in str(runtime_error("{{Iterate -1}}"))
    assert "exceeds the limit" in str(runtime_error("{{range Iterate 100000000}}x{{end}}"))


def test_add() -> None:
    assert r("{{Add 2 3}} {{Add -1 1}}") == "5 0"
    assert "expected int; got string" in str(runtime_error('{{Add "a" 1}}'))


def test_default_uses_sprig_semantics() -> None:
    assert r('{{default "x" .Missing}}|{{default "x" ""}}|{{default "x" "y"}}|{{default "x" 0}}') == "x|x|y|x"
    assert r('{{.Missing | default "d"}}|{{.V | default "d"}}', V="v") == "d|v"


def test_trim_prefix_and_suffix() -> None:
    assert r('{{trimPrefix "foo-" "foo-bar"}} {{"foo-bar" | trimSuffix "-bar"}} {{trimPrefix "x" "ab"}}') == (
        "bar foo ab"
    )


def test_has_prefix_and_suffix_take_sprig_argument_order() -> None:
    assert r('{{hasPrefix "ca" "cat"}} {{hasPrefix "x" "cat"}} {{"catch" | hasSuffix "ch"}}') == ("true false true")


def test_lower_and_upper() -> None:
    assert r('{{lower "AbC"}} {{"AbC" | upper}}') == "abc ABC"


def test_contains_takes_sprig_argument_order() -> None:
    assert r('{{contains "ab" "xabx"}} {{contains "xabx" "ab"}}') == "true false"
    assert r('{{if .X | contains "foo"}}yes{{end}}', X="a foo b") == "yes"


def test_replace() -> None:
    assert r('{{replace "a" "o" "banana"}} {{"x-y-z" | replace "-" "_"}}') == "bonono x_y_z"


def test_unescape() -> None:
    assert r('{{Unescape "&lt;b&gt; &amp; &#39;q&#39;"}}') == "<b> & 'q'"


def test_random() -> None:
    assert r("{{Random 1 2}}") == "1"
    values = {int(v) for v in r("{{range Iterate 200}}{{Random 3 6}} {{end}}").split()}
    assert values <= {3, 4, 5}
    assert "must be greater than min" in str(runtime_error("{{Random 5 5}}"))


def test_markdown_link() -> None:
    assert r('{{MarkdownLink "http://x/y"}}') == "[http://x/y](http://x/y)"


def test_format_time_with_go_layouts() -> None:
    moment = dt.datetime(2024, 3, 9, 14, 5, 7, 123456, tzinfo=dt.UTC)
    assert r('{{formatTime .T "2006-01-02T15:04:05Z07:00"}}', T=moment) == "2024-03-09T14:05:07Z"
    assert r('{{FormatTime .T "Jan 2, 2006 at 3:04pm (MST)"}}', T=moment) == "Mar 9, 2024 at 2:05pm (UTC)"
    assert r('{{formatTime .T "Mon Monday January 1 _2 06 03 PM 4 5 .000 .999999"}}', T=moment) == (
        "Sat Saturday March 3  9 24 02 PM 5 7 .123 .123456"
    )


def test_format_time_accepts_rfc3339_strings_with_offsets() -> None:
    source = '{{formatTime .T "2006-01-02 15:04:05.999 -0700 MST Z07:00"}}'
    assert r(source, T="2024-12-31T23:59:58.5+05:30") == "2024-12-31 23:59:58.5 +0530 +0530 +05:30"
    assert r('{{formatTime "2024-01-02T03:04:05Z" "02/01/06"}}') == "02/01/24"
    assert "RFC 3339" in str(runtime_error('{{formatTime "yesterday" "2006"}}'))


def test_atoi_and_atof() -> None:
    assert r('{{atoi "42"}} {{Add (atoi "-2") 3}} {{atof "1.5"}} {{atof "2"}}') == "42 1 1.5 2"
    assert "invalid syntax" in str(runtime_error('{{atoi "4x"}}'))
    assert "invalid syntax" in str(runtime_error('{{atof "x"}}'))


def test_formicary_skip_if_example_with_custom_function() -> None:
    calls: list[tuple[str, str]] = []

    def count(job_type: str, state: str) -> int:
        calls.append((job_type, state))
        return 2

    out = render(
        'skip_if: \'{{ CountByJobTypeAndState "x" "PENDING" }}\'',
        {},
        functions={"CountByJobTypeAndState": count},
    )
    assert out == "skip_if: '2'"
    assert calls == [("x", "PENDING")]


# ---------------------------------------------------------------- errors and line numbers


def test_unclosed_action_reports_its_line() -> None:
    error = syntax_error("a\n{{ .X")
    assert error.line == 2
    assert "unclosed action" in str(error)


def test_missing_end_reports_the_opening_line() -> None:
    error = syntax_error("x\n{{if .X}}\nfoo\n")
    assert error.line == 2
    assert "unexpected EOF" in str(error)


def test_unexpected_end_and_else() -> None:
    error = syntax_error("a\n\n{{end}}")
    assert (error.line, "unexpected {{end}}" in str(error)) == (3, True)
    error = syntax_error("a\n{{else}}")
    assert (error.line, "unexpected {{else}}" in str(error)) == (2, True)


def test_unknown_function_is_a_parse_error_with_line() -> None:
    error = syntax_error("x\ny {{ foo 1 }}")
    assert error.line == 2
    assert str(error) == 'line 2: function "foo" not defined'
    assert isinstance(error, TemplateError)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ # }}", "unrecognized character in action"),
        ('{{ "abc }}', "unterminated quoted string"),
        ("{{ (Add 1 2 }}", "unclosed left paren"),
        ("{{ Add 1 2) }}", "unexpected right paren"),
        ("{{ 3x }}", "bad number syntax"),
        ("{{ }}", "missing value for command"),
        ("{{if}}{{end}}", "missing value for if"),
        ("{{ $x : 1 }}", "expected :="),
        ("{{ .X# }}", "bad character"),
        ("{{ .X.Y.}}", 'unexpected "." in operand'),
        ('{{ "a".Y }}', "unexpected . after term"),
        ("{{ 1.Y }}", "bad number syntax"),
        ("{{/* open", "unclosed comment"),
        ('{{define "a"}}x', "unexpected EOF"),
        ("{{range .L}}{{else if .X}}{{end}}", "unexpected"),
        ("{{ .X | }}", "missing command"),
        ("{{$a, $b := .L}}", "too many declarations"),
    ],
)
def test_bad_syntax(source: str, message: str) -> None:
    assert message in str(syntax_error(source))


def test_runtime_errors_carry_the_action_line() -> None:
    error = runtime_error("a\nb\n{{ index .L 5 }}", L=[1])
    assert error.line == 3
    assert str(error).startswith("line 3: ")


def test_wrong_number_of_arguments() -> None:
    assert "wrong number of args for Add: want 2 got 1" in str(runtime_error("{{Add 1}}"))
    assert "wrong number of args for not: want 1 got 2" in str(runtime_error("{{not 1 2}}"))


def test_function_exceptions_are_wrapped() -> None:
    def boom() -> str:
        raise ValueError("boom")

    with pytest.raises(TemplateRuntimeError) as info:
        render("\n{{ boom }}", {}, functions={"boom": boom})
    assert info.value.line == 2
    assert "error calling boom: boom" in str(info.value)


def test_fields_only_apply_to_maps() -> None:
    assert "can't evaluate field X in type string" in str(runtime_error("{{.S.X}}", S="s"))
    assert "can't evaluate field X in type []interface {}" in str(runtime_error("{{.L.X}}", L=[]))


# ---------------------------------------------------------------- sandbox and limits


class _Secretive:
    secret = "s3cr3t"

    def __init__(self) -> None:
        self.touched: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.touched.append(name)
        return "leaked"


def test_python_attributes_are_unreachable() -> None:
    obj = _Secretive()
    for source in ("{{.Obj.__class__}}", "{{.Obj.secret}}", "{{.Obj.anything}}", "{{$.Obj.__dict__}}"):
        error = runtime_error(source, Obj=obj)
        assert "can't evaluate field" in str(error)
    assert "can't index item of type _Secretive" in str(runtime_error('{{index .Obj "secret"}}', Obj=obj))
    assert obj.touched == []


def test_dict_methods_are_not_callable_from_templates() -> None:
    assert r("{{.D.keys}}|{{.D.items}}|{{.D.get}}", D={"a": 1}) == "<no value>|<no value>|<no value>"
    assert r("{{.D.keys}}", D={"keys": "k"}) == "k"


def test_output_limit() -> None:
    error = runtime_error("{{range Iterate 1000}}xxxxxxxxxx{{end}}", limits=Limits(max_output=100))
    assert "output exceeds the limit of 100 characters" in str(error)


def test_step_limit_stops_huge_loops_quickly() -> None:
    error = runtime_error("{{range 100000000}}{{end}}", limits=Limits(max_steps=10_000))
    assert "limit of 10000 evaluation steps" in str(error)
    assert "evaluation steps" in str(runtime_error("{{range $i := 100000000}}{{end}}"))


def test_exponential_string_growth_is_bounded() -> None:
    source = '{{$s := "xx"}}{{range Iterate 40}}{{$s = print $s $s}}{{end}}{{len $s}}'
    assert "exceeds the output limit" in str(runtime_error(source, limits=Limits(max_output=10_000)))


def test_printing_shared_nested_maps_is_bounded() -> None:
    source = '{{$d := Dict}}{{range Iterate 40}}{{$d = Dict "a" $d "b" $d}}{{end}}{{$d}}'
    assert "exceeds the output limit" in str(runtime_error(source, limits=Limits(max_output=10_000)))


def test_huge_printf_width_is_bounded() -> None:
    assert "exceeds the output limit" in str(runtime_error('{{printf "%999999d" 1}}', limits=Limits(max_output=1000)))


def test_deep_nesting_is_refused_at_parse_time() -> None:
    assert "nesting exceeds" in str(syntax_error("{{if true}}" * 200 + "{{end}}" * 200))
    assert "nesting exceeds" in str(syntax_error("{{" + "(" * 200 + "1" + ")" * 200 + "}}"))


# ---------------------------------------------------------------- API


def test_parse_once_execute_many() -> None:
    template = Template.parse("{{$x := .N}}{{$x}}")
    assert [template.execute({"N": n}) for n in (1, 2)] == ["1", "2"]


def test_custom_functions_merge_over_defaults() -> None:
    assert render('{{Add 2 3}} {{lower "A"}}', {}, functions={"Add": lambda a, b: a * b}) == "6 a"
    assert DEFAULT_FUNCTIONS["Add"](2, 3) == 5
    with pytest.raises(ValueError):
        Template.parse("x", functions={"not a name": lambda: 1})


def test_default_function_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_FUNCTIONS["evil"] = print  # type: ignore[index]
    expected = {"and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js"}
    expected |= {"urlquery", "eq", "ne", "lt", "le", "gt", "ge", "Dict", "Iterate", "Add", "default"}
    expected |= {"trimPrefix", "trimSuffix", "hasPrefix", "hasSuffix", "lower", "upper", "contains"}
    expected |= {"replace", "Unescape", "Random", "MarkdownLink", "formatTime", "FormatTime", "atoi", "atof"}
    assert expected <= set(DEFAULT_FUNCTIONS)


def test_has_template() -> None:
    assert has_template("a {{.X}}")
    assert not has_template("plain { text }")


def test_error_hierarchy_and_limits_defaults() -> None:
    assert issubclass(TemplateSyntaxError, TemplateError)
    assert issubclass(TemplateRuntimeError, TemplateError)
    assert Limits() == Limits(max_output=1_000_000, max_steps=1_000_000)
    with pytest.raises(AttributeError):
        Limits().max_steps = 1  # type: ignore[misc]
