"""A Serverless Framework project (`serverless.yml`, v3 and v4) read as recursectl's settings.

What is read: `service`; `provider.runtime`, `stage`, `memorySize`, `timeout`, `architecture`,
`logRetentionInDays`, `environment`, `iam.role.statements` (v3/v4) or `iamRoleStatements`
(v2/v3); `functions.<key>.handler`, `name`, `runtime`, `memorySize`, `timeout`,
`environment`. Variables: `${self:a.b}`, `${opt:stage}` / `${sls:stage}` (provider.stage, else
`dev`), `${opt:region}` / `${aws:region}`, `${env:X}`, `${sls:instanceId}`, with fallbacks
(`${opt:stage, 'dev'}`). The function's name is Serverless's own: `<service>-<stage>-<key>`
unless `functions.<key>.name` sets one.

Every reference to the function's own ARN becomes `${function_arn}`, which deploy fills with the
real ARN (in environment values and IAM statements): a `custom` value named like the function's
ARN (`functionARN`, `selfArn`, ...) whose value is a placeholder or this function's ARN, any
value that resolves to this function's ARN, and CloudFormation's `Fn::GetAtt [<Key>LambdaFunction,
Arn]`. So the seed's four manual steps (deploy, copy the ARN into `custom.functionARN`,
uncomment the IAM statement, deploy again) are one `recursectl deploy`.

What is not applied (events, plugins, resources, ...) is listed, never dropped silently.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recursectl.build import runtimes, selfarn
from recursectl.errors import UsageError
from recursectl.protocol import SELF_ARN_PLACEHOLDER

FILES = ("serverless.yml", "serverless.yaml")
DEFAULT_STAGE = "dev"
DEFAULT_REGION = "us-east-1"
_SELF = "\x00recursectl-self-arn\x00"  # the function's ARN while variables are resolved
_VAR = re.compile(r"\$\{([^{}]+)\}")
_ARN = re.compile(r"^arn:[^:]*:lambda:[^:]*:[^:]*:function:([^:]+)(:.*)?$")

# Keys read (a dotted path; `*` is any function key), keys that change nothing on Lambda.
_READ = {
    "service",
    "provider.name",
    "provider.runtime",
    "provider.stage",
    "provider.region",
    "provider.memorySize",
    "provider.timeout",
    "provider.architecture",
    "provider.logRetentionInDays",
    "provider.environment",
    "provider.iam.role.statements",
    "provider.iamRoleStatements",
    "functions.*.handler",
    "functions.*.name",
    "functions.*.runtime",
    "functions.*.memorySize",
    "functions.*.timeout",
    "functions.*.architecture",
    "functions.*.environment",
    "functions.*.description",
    "custom",
}
_HARMLESS = {"frameworkVersion", "org", "app", "configValidationMode", "useDotenv"}


@dataclass
class Imported:
    """recursectl settings from a serverless.yml, and what reading it noticed."""

    values: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    function_key: str = ""


# YAML ------------------------------------------------------------------------------------------
def _yaml() -> Any:
    # PyYAML ships no type information (it comes with moto's dependencies); read it as Any.
    return importlib.import_module("yaml")


def _yaml_loader() -> Any:
    """SafeLoader that reads CloudFormation's short forms (`!GetAtt a.Arn`) as `Fn::` maps."""
    yaml = _yaml()
    loader_class: Any = type("ServerlessLoader", (yaml.SafeLoader,), {})

    def short_form(loader: Any, suffix: str, node: Any) -> Any:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if suffix == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    loader_class.add_multi_constructor("!", short_form)
    return loader_class


def read_yaml(path: Path) -> dict[str, Any]:
    """The document, or a UsageError naming the line that cannot be read."""
    yaml = _yaml()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read {path}: {exc}.") from None
    try:
        doc = yaml.load(text, Loader=_yaml_loader())  # a SafeLoader: no object construction
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(
            f"{path.name}{where}: not valid YAML ({problem}).",
            hint="fix the file (recursectl reads it as Serverless Framework's YAML)",
        ) from None
    if not isinstance(doc, dict):
        raise UsageError(
            f"{path.name} is not a Serverless Framework file (no top-level mapping).",
            hint="it needs `service`, `provider` and `functions`",
        )
    return doc


# variables -------------------------------------------------------------------------------------
@dataclass
class _Resolver:
    doc: dict[str, Any]
    stage: str
    region: str
    environ: Mapping[str, str]
    unresolved: set[str] = field(default_factory=set)

    def value(self, value: Any, depth: int = 0) -> Any:
        if depth > 20:
            raise UsageError(
                "serverless.yml: variables refer to each other in a loop.",
                hint="check the ${self:...} references",
            )
        if isinstance(value, str):
            return self.string(value, depth)
        if isinstance(value, dict):
            return {k: self.value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, depth + 1) for v in value]
        return value

    def string(self, text: str, depth: int) -> Any:
        for _ in range(20):
            match = _VAR.search(text)
            if match is None:
                return text
            found = self.ref(match.group(1), depth)
            if match.group(0) == text and not isinstance(found, str):
                return found  # `${self:custom.list}` alone: the object itself
            text = text[: match.start()] + str(found) + text[match.end() :]
        return text

    def ref(self, body: str, depth: int) -> Any:
        ref, _, fallback = body.partition(",")
        ref = ref.strip()
        kind, _, key = ref.partition(":")
        found: Any = None
        if kind == "self":
            found = _lookup(self.doc, key)
            if found is not None:
                found = self.value(found, depth + 1)
        elif ref == "sls:stage" or (ref == "opt:stage" and not fallback.strip()):
            found = self.stage  # no command-line options here: `opt:` takes its fallback
        elif ref == "aws:region" or (ref == "opt:region" and not fallback.strip()):
            found = self.region
        elif ref == "sls:instanceId":
            found = "local"
        elif kind == "env":
            found = self.environ.get(key)
        if found is None and fallback.strip():
            found = self.value(fallback.strip().strip("'\""), depth + 1)
        if found is None:
            self.unresolved.add(ref)
            return _unresolved(ref)
        return found


def _unresolved(ref: str) -> str:
    """What an unresolved variable leaves: no `:`, so an ARN around it still parses."""
    return f"<{ref.replace(':', '-')}>"


def _lookup(doc: Any, dotted: str) -> Any:
    here = doc
    for part in dotted.split("."):
        if not isinstance(here, dict) or part not in here:
            return None
        here = here[part]
    return here


# the function's own ARN ---------------------------------------------------------------------
def logical_id(function_key: str) -> str:
    """CloudFormation's logical id of a function (Serverless's naming): `<Key>LambdaFunction`."""
    key = function_key[:1].upper() + function_key[1:]
    return key.replace("-", "Dash").replace("_", "Underscore") + "LambdaFunction"


def _mark_custom(doc: dict[str, Any], function_name: str, notes: list[str]) -> None:
    """`custom` values that stand for the function's own ARN become the marker."""
    custom = doc.get("custom")
    if not isinstance(custom, dict):
        return
    for key, value in list(custom.items()):
        if not isinstance(value, str) or not selfarn.looks_like_self(key):
            continue
        if "${" in value:
            continue  # resolved first, then compared with this function's ARN (_mark_arns)
        arn = _ARN.match(value)
        if arn is not None and arn.group(1) != function_name:
            continue  # another function's ARN
        custom[key] = _SELF
        notes.append(f"custom.{key} is the function's own ARN: deploy fills it in")


def _mark_arns(value: Any, function_name: str, function_key: str) -> Any:
    """After resolution: this function's ARN (or GetAtt of it) anywhere becomes the marker."""
    if isinstance(value, str):
        match = _ARN.match(value)
        if match is not None and match.group(1) == function_name:
            return _SELF + (match.group(2) or "")
        return value
    if isinstance(value, dict):
        get_att = value.get("Fn::GetAtt")
        if len(value) == 1 and get_att == [logical_id(function_key), "Arn"]:
            return _SELF
        return {k: _mark_arns(v, function_name, function_key) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_arns(v, function_name, function_key) for v in value]
    return value


def _placeholders(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_SELF, SELF_ARN_PLACEHOLDER)
    if isinstance(value, dict):
        return {k: _placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v) for v in value]
    return value


def _has_intrinsic(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k == "Ref" or k.startswith("Fn::") for k in value) or any(
            _has_intrinsic(v) for v in value.values()
        )
    if isinstance(value, list):
        return any(_has_intrinsic(v) for v in value)
    return False


# the whole file ----------------------------------------------------------------------------------
def _function(doc: dict[str, Any], path: Path, only: str | None) -> tuple[str, dict[str, Any]]:
    functions = doc.get("functions")
    if not isinstance(functions, dict) or not functions:
        raise UsageError(
            f"{path.name} declares no functions.",
            hint="add functions: <key>: handler: <file>.<export>",
        )
    if only is not None:
        if only not in functions:
            raise UsageError(
                f"{path.name} has no function {only!r} (it has: {', '.join(functions)}).",
                hint="name one of them",
            )
        return only, functions[only] or {}
    if len(functions) > 1:
        raise UsageError(
            f"{path.name} declares {len(functions)} functions ({', '.join(functions)}); "
            "recursectl deploys one function per project.",
            hint=f"write a recursectl.toml for one: recursectl init --from {path.name} "
            f"--function {next(iter(functions))}",
        )
    key = next(iter(functions))
    fn = functions[key]
    if not isinstance(fn, dict):
        raise UsageError(f"functions.{key} in {path.name} is not a mapping.", hint="fix the file")
    return key, fn


def _runtime(declared: Any, notes: list[str], known: Iterable[str]) -> str | None:
    if not isinstance(declared, str):
        return None
    names = tuple(known)
    nearest = runtimes.nearest(declared, known=names)
    if nearest is None:
        notes.append(f"runtime {declared} is not one recursectl deploys: the handler decides")
        return None
    if nearest != declared:
        when = runtimes.deprecated_on(declared)
        why = f"deprecated {when.isoformat()}" if when else "not a Lambda runtime"
        notes.append(
            f"runtime {declared} is no longer supported by Lambda ({why}): using {nearest}, "
            "the nearest supported one"
        )
    return nearest


def _unknown(doc: dict[str, Any], key: str) -> list[str]:
    """The keys present that recursectl does not apply, as dotted paths."""
    out = []
    for top, value in doc.items():
        if top in _HARMLESS or top in _READ:
            continue
        if top == "provider" and isinstance(value, dict):
            for k, v in value.items():
                path = f"provider.{k}"
                if path in _READ:
                    continue
                if k == "iam" and isinstance(v, dict):
                    role = v.get("role")
                    extra = [f"provider.iam.{r}" for r in v if r != "role"]
                    if isinstance(role, dict):
                        extra += [f"provider.iam.role.{r}" for r in role if r != "statements"]
                    elif role is not None:  # an existing role's ARN or name
                        extra.append("provider.iam.role (recursectl makes the function's own role)")
                    out += extra
                    continue
                out.append(path)
        elif top == "functions" and isinstance(value, dict):
            fn = value.get(key)
            if isinstance(fn, dict):
                out += [f"functions.{key}.{k}" for k in fn if f"functions.*.{k}" not in _READ]
        else:
            out.append(top)
    return out


def _env(provider: dict[str, Any], fn: dict[str, Any], notes: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in (provider.get("environment"), fn.get("environment")):
        if not isinstance(source, dict):
            continue
        for name, value in source.items():
            if isinstance(value, (dict, list)):
                notes.append(f"environment {name} is a CloudFormation expression: not set")
                continue
            env[str(name)] = "" if value is None else _scalar(value)
    return env


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _statements(provider: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    iam = provider.get("iam")
    role = iam.get("role") if isinstance(iam, dict) else None
    statements = role.get("statements") if isinstance(role, dict) else None
    if statements is None:
        statements = provider.get("iamRoleStatements")
    out = []
    for st in statements or []:
        if not isinstance(st, dict):
            continue
        if _has_intrinsic(st):
            notes.append(
                f"IAM statement {st.get('Action')} uses a CloudFormation expression: left out"
            )
            continue
        out.append(st)
    return out


def _sizes(provider: dict[str, Any], fn: dict[str, Any]) -> dict[str, Any]:
    """memory, timeout, architecture (the function's over the provider's), log retention."""
    out: dict[str, Any] = {}
    for ours, theirs in (
        ("memory", "memorySize"),
        ("timeout", "timeout"),
        ("architecture", "architecture"),
    ):
        chosen = fn.get(theirs, provider.get(theirs))
        if chosen is None:
            continue
        try:
            out[ours] = int(chosen) if ours != "architecture" else str(chosen)
        except (TypeError, ValueError):
            raise UsageError(
                f"{theirs} in serverless.yml must be a number (got {chosen!r}).",
                hint="fix the file",
            ) from None
    if isinstance(provider.get("logRetentionInDays"), int):
        out["log_retention_days"] = provider["logRetentionInDays"]
    return out


def load(
    path: Path,
    *,
    known: Iterable[str],
    environ: Mapping[str, str] | None = None,
    function: str | None = None,
) -> Imported:
    """recursectl's settings from a serverless.yml (see the module doc)."""
    doc = read_yaml(path)
    notes: list[str] = []
    provider = doc.get("provider") if isinstance(doc.get("provider"), dict) else {}
    assert isinstance(provider, dict)
    if provider.get("name", "aws") != "aws":
        raise UsageError(
            f"{path.name} is for provider {provider.get('name')!r}; recursectl deploys to AWS.",
            hint="provider.name must be aws",
        )
    key, fn = _function(doc, path, function)
    base = _Resolver(doc, DEFAULT_STAGE, DEFAULT_REGION, environ or os.environ)
    stage = str(base.value(provider.get("stage", DEFAULT_STAGE)))
    region = str(base.value(provider.get("region", DEFAULT_REGION)))
    resolver = _Resolver(doc, stage, region, environ or os.environ)
    service = resolver.value(doc.get("service"))
    if isinstance(service, dict):  # v1's `service: {name: ...}`
        service = service.get("name")
    name_value = resolver.value(fn.get("name")) if fn.get("name") else f"{service}-{stage}-{key}"
    name = str(name_value)
    _mark_custom(doc, name, notes)
    resolved_provider = _mark_arns(resolver.value(provider), name, key)
    resolved_fn = _mark_arns(resolver.value(fn), name, key)
    values: dict[str, Any] = {"name": name}
    if isinstance(resolved_fn.get("handler"), str):
        values["handler"] = resolved_fn["handler"]
    runtime = _runtime(resolved_fn.get("runtime") or resolved_provider.get("runtime"), notes, known)
    if runtime:
        values["runtime"] = runtime
    values.update(_sizes(resolved_provider, resolved_fn))
    env = _env(resolved_provider, resolved_fn, notes)
    if env:
        values["environment"] = _placeholders(env)
    statements = _statements(resolved_provider, notes)
    if statements:
        values["iam_statements"] = tuple(_placeholders(statements))
    if "region" in provider:
        notes.append(
            f"provider.region {region} is not applied: recursectl deploys to --region, "
            "AWS_REGION or the profile's region"
        )
    used = repr(values)  # only what is left in a value recursectl applies is worth a word
    for ref in sorted(resolver.unresolved):
        if _unresolved(ref) in used:
            notes.append(f"${{{ref}}} could not be resolved (left as {_unresolved(ref)})")
    unknown = _unknown(doc, key)
    if unknown:
        notes.append(f"not applied by recursectl: {', '.join(unknown)}")
    return Imported(values=values, notes=notes, function_key=key)


def find(cwd: Path) -> Path | None:
    for name in FILES:
        if (cwd / name).is_file():
            return cwd / name
    return None
