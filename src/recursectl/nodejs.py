"""Node.js for the local cloud: the runtime interface client and the runtime's SDK, installed once.

The local cloud runs a Node.js handler as Lambda does: in a `node` process under the official
runtime interface client (npm `aws-lambda-ric`, the loader of the managed runtimes), with the
AWS SDK for JavaScript v3 resolvable as the managed runtime's `/var/runtime/node_modules` is,
and nothing else from the machine. Both are installed on first use into recursectl's cache:

    <cache>/node-ric/<version>-abi<N>-<platform>-<arch>/node_modules/aws-lambda-ric
    <cache>/node-sdk/<sdk version>-<packages hash>/node_modules/@aws-sdk/...

`<cache>` is $RECURSECTL_NODE_CACHE, else $XDG_CACHE_HOME/recursectl, else ~/.cache/recursectl.
The ric compiles native code (its bundled curl and aws-lambda-cpp, then a node-gyp addon):
about 46 s on an idle 2-core machine, 3-4 minutes on a busy one. node-gyp is given the
installed Node's own headers (`--nodedir`), so it never downloads any; npm's update notifier,
funding and audit calls are off. A lock file makes parallel first uses build once.

`launch()` returns what a worker needs to spawn one environment. The ric (4.x) reads its
handler from `_HANDLER` and the task root from `LAMBDA_TASK_ROOT` (argv is ignored), and needs
AWS_LAMBDA_RUNTIME_API plus AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE,
AWS_LAMBDA_LOG_GROUP_NAME and AWS_LAMBDA_LOG_STREAM_NAME (each invocation fails with
Runtime.PlatformError without them): those are the worker's to set, as for Python.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from recursectl import protocol
from recursectl.errors import RecursectlError

RIC_PACKAGE = "aws-lambda-ric"
RIC_VERSION = "4.0.2"
# What the local "runtime" provides. The managed runtime ships all of SDK v3 (about 400
# packages); we stage the clients handlers commonly use, one release for all of them.
# A handler that needs another client bundles it (as it would to pin a version on AWS).
SDK_VERSION = "3.1164.0"
SDK_PACKAGES = (
    "@aws-sdk/client-lambda",
    "@aws-sdk/client-s3",
    "@aws-sdk/client-dynamodb",
    "@aws-sdk/lib-dynamodb",
    "@aws-sdk/client-sqs",
    "@aws-sdk/client-sns",
)
CACHE_ENV = "RECURSECTL_NODE_CACHE"
# Flags Lambda applies to its Node.js runtimes (docs: "experimental features that Lambda
# disables"), used when the local node knows them.
LAMBDA_NODE_FLAGS = ("--no-experimental-require-module", "--no-experimental-detect-module")
_INSTALL_TIMEOUT_S = 1200
_DONE = "recursectl-install.json"
HINT = "install Node.js 20 or later with npm (https://nodejs.org or your package manager)"


class NodeError(RecursectlError):
    """Node.js is missing, or its runtime client could not be installed."""


@dataclass(frozen=True)
class Toolchain:
    """The machine's node and npm, and what the install depends on."""

    node: str
    npm: str
    version: str  # "20.20.2"
    abi: str  # process.versions.modules: the native addon is built for it
    nodedir: Path  # the prefix holding include/node/node.h
    flags: tuple[str, ...]  # LAMBDA_NODE_FLAGS this node accepts
    hooks: bool = True  # module.register (Node >= 20.6): the ESM fallback to the runtime SDK

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])


@dataclass(frozen=True)
class NodeLaunch:
    """A Node execution environment: the command line and the environment to add."""

    args: tuple[str, ...]
    env: dict[str, str]
    node_version: str


_PROBE = (
    "const flags=process.allowedNodeEnvironmentFlags;"
    "console.log(JSON.stringify({exec:process.execPath,version:process.versions.node,"
    "abi:process.versions.modules,flags:%s.filter(f=>flags.has(f)),"
    "hooks:typeof require('node:module').register==='function'}))"
)

# ES modules ignore NODE_PATH, yet on Lambda `import ... from '@aws-sdk/client-lambda'` finds the
# runtime's SDK (its CommonJS build, the same module `require` returns). A resolve hook gives
# bare specifiers that nothing else resolves that same fallback, and nothing more.
_HOOK_REGISTER = """import { register } from 'node:module';
register('./resolve.mjs', import.meta.url);
"""
_HOOK_RESOLVE = """import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const sdk = createRequire(new URL('../node_modules/index.js', import.meta.url));

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || /^([./]|[a-z][a-z0-9+.-]*:)/i.test(specifier)) {
      throw err;
    }
    let file;
    try {
      file = sdk.resolve(specifier);
    } catch {
      throw err;
    }
    return next(pathToFileURL(file).href, context);
  }
}
"""

# nodejs20.x and nodejs22.x keep callback handlers (Lambda runs them with the 3.x runtime
# client; only nodejs24.x+ answers Runtime.CallbackHandlerDeprecated) and set
# context.callbackWaitsForEmptyEventLoop to true. The installed 4.x client awaits its handler
# and refuses three-argument ones, so for those runtimes a load hook replaces the handler
# module's export with an adapter of the 20/22 contract: the callback's result is sent once
# the event loop is empty (unless callbackWaitsForEmptyEventLoop is false), a returned promise
# wins, a handler that never calls back answers null when the loop empties.
_CALLBACKS_REGISTER = """import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const handler = process.env._HANDLER || '';
const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
const slash = handler.lastIndexOf('/');
const dot = handler.indexOf('.', slash + 1);
if (dot > 0 && process.argv[1]) {
  const base = path.resolve(root, handler.slice(0, dot));
  const files = ['', '.js', '.mjs', '.cjs'].map((ext) => pathToFileURL(base + ext).href);
  const name = handler.slice(dot + 1).split('.')[0];
  const adapter = new URL('./callbacks-adapt.mjs', import.meta.url).href;
  const ric = pathToFileURL(path.resolve(process.argv[1])).href;
  register('./callbacks-load.mjs', import.meta.url, { data: { files, name, adapter, ric } });
}
"""
# Only the runtime client's own import of the handler module is adapted (any other importer
# gets the module itself); the adapter imports it dynamically, so a failing handler module
# (a syntax error) rejects that import and reaches the client's init-error path unchanged.
_CALLBACKS_LOAD = """const ADAPT = 'recursectl-adapt';
let want = { files: [], name: '', adapter: '', ric: '' };

export function initialize(data) {
  want = data;
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (context.parentURL === want.ric && want.files.includes(resolved.url)) {
    return { ...resolved, url: `${resolved.url}?${ADAPT}`, shortCircuit: true };
  }
  return resolved;
}

export async function load(url, context, next) {
  const mark = url.lastIndexOf(`?${ADAPT}`);
  if (mark < 0) return next(url, context);
  const name = JSON.stringify(want.name);
  const source = [
    `import { adapt } from ${JSON.stringify(want.adapter)};`,
    `const o = await import(${JSON.stringify(url.slice(0, mark))});`,
    `const h = adapt(o[${name}] ?? (o.default == null ? undefined : o.default[${name}]));`,
    `export { h as ${name} };`,
    `export default o.default;`,
  ].join('\\n');
  return { format: 'module', source, shortCircuit: true };
}
"""
_CALLBACKS_ADAPT = """const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');

export function adapt(user) {
  if (typeof user !== 'function' || user[STREAMING]) return user;
  const adapted = user.length >= 3 ? callbacks(user) : waits(user);
  Object.defineProperty(adapted, 'name', { value: user.name });
  return adapted;
}

function defaults(context) {
  if (context && context.callbackWaitsForEmptyEventLoop === undefined) {
    context.callbackWaitsForEmptyEventLoop = true;
  }
}

function waits(user) {
  return function handler(event, context) {
    defaults(context);
    return user.call(this, event, context);
  };
}

function callbacks(user) {
  return async function handler(event, context) {
    defaults(context);
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err, result) => {
        if (settled) return;
        settled = true;
        if (err === undefined || err === null) resolve(result);
        else reject(err instanceof Error ? err : new Error(String(err)));
      };
      const whenEmpty = (fn) => process.once('beforeExit', fn);
      let called = false;
      const callback = (err, result) => {
        if (called) return;
        called = true;
        if (context && context.callbackWaitsForEmptyEventLoop === false) settle(err, result);
        else whenEmpty(() => settle(err, result));
      };
      let returned;
      try {
        returned = user.call(this, event, context, callback);
      } catch (err) {
        callback(err);
        return;
      }
      if (returned && typeof returned.then === 'function') {
        returned.then((r) => settle(null, r), (e) => settle(e));
      } else {
        whenEmpty(() => called || settle(null, null));
      }
    });
  };
}
"""
CALLBACK_RUNTIMES = (20, 22)  # the Node runtimes whose handlers may take a callback


def toolchain() -> Toolchain:
    """Find node and npm and the Node headers, or say what to install."""
    node = shutil.which("node")
    if node is None:
        raise NodeError("node is not on PATH: the local cloud runs Node.js handlers with it", HINT)
    npm = shutil.which("npm")
    if npm is None:
        raise NodeError("npm is not on PATH: recursectl installs the runtime client with it", HINT)
    probe = _PROBE % json.dumps(list(LAMBDA_NODE_FLAGS))
    try:
        out = subprocess.run(
            [node, "-e", probe], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        info = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise NodeError(f"could not run {node}: {exc}", HINT) from exc
    prefix = Path(info["exec"]).resolve().parent.parent
    if not (prefix / "include" / "node" / "node.h").is_file():
        raise NodeError(
            f"the Node.js headers are missing ({prefix}/include/node/node.h): "
            "the runtime client compiles against them",
            "install Node.js with its headers (the official tarballs have them; "
            "Debian/Ubuntu: the libnode-dev or nodejs package from NodeSource)",
        )
    flags = tuple(info["flags"])
    return Toolchain(node, npm, info["version"], info["abi"], prefix, flags, bool(info["hooks"]))


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recursectl"


def _npm_env(tc: Toolchain) -> dict[str, str]:
    """The environment npm runs in: no update check, audit or funding request (nothing but
    the registry is contacted), headers from the installed Node."""
    ours = {
        "npm_config_nodedir": str(tc.nodedir),  # node-gyp: headers from here, no download
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "npm_config_loglevel": "error",
        "NO_UPDATE_NOTIFIER": "1",
        "DISABLE_OPENCOLLECTIVE": "1",
    }
    # npm reads npm_config_* in any case: a user's NPM_CONFIG_UPDATE_NOTIFIER=true must not
    # compete with ours (which of two wins depends on the environment's order).
    env = {k: v for k, v in os.environ.items() if k.lower() not in ours}
    env.update(ours)
    env["NPM_CONFIG_UPDATE_NOTIFIER"] = "false"
    return env


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # parallel first uses: one builds, the rest wait
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install(tc: Toolchain, dest: Path, specs: list[str], what: str) -> Path:
    """npm install `specs` into `dest` once (atomically: a temp folder, then a rename)."""
    if (dest / _DONE).is_file():
        return dest
    with _locked(dest.with_name(dest.name + ".lock")):
        if (dest / _DONE).is_file():
            return dest  # another process built it while we waited
        tmp = dest.with_name(f"{dest.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "package.json").write_text('{"private": true}\n')
        log = dest.with_name(dest.name + ".log")
        args = [
            tc.npm, "install", "--prefix", str(tmp), f"--nodedir={tc.nodedir}",
            "--no-audit", "--no-fund", "--no-update-notifier", "--no-package-lock",
            "--omit=dev", "--engine-strict=false", *specs,
        ]  # fmt: skip
        started = time.monotonic()
        try:
            with open(log, "w") as out:
                done = subprocess.run(
                    args, cwd=tmp, env=_npm_env(tc), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, timeout=_INSTALL_TIMEOUT_S, check=False,
                )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise NodeError(f"could not install {what}: {exc}", f"see {log}") from exc
        if done.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise NodeError(
                f"could not install {what} (npm exited {done.returncode})",
                f"see {log}; building aws-lambda-ric needs gcc, g++, make, cmake and python3",
            )
        seconds = round(time.monotonic() - started, 1)
        record = {"specs": specs, "node": tc.version, "seconds": seconds}
        (tmp / _DONE).write_text(json.dumps(record) + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    return dest


def ric_dir(tc: Toolchain, cache: Path | None = None) -> Path:
    root = cache or cache_root()
    key = f"{RIC_VERSION}-abi{tc.abi}-{platform.system().lower()}-{platform.machine()}"
    return root / "node-ric" / key


def sdk_dir(cache: Path | None = None) -> Path:
    root = cache or cache_root()
    digest = hashlib.sha256("\n".join(SDK_PACKAGES).encode()).hexdigest()[:12]
    return root / "node-sdk" / f"{SDK_VERSION}-{digest}"


def ensure_ric(tc: Toolchain | None = None, cache: Path | None = None) -> Path:
    """The installed aws-lambda-ric package folder (its bin is index.mjs), built on first use."""
    tc = tc or toolchain()
    spec = f"{RIC_PACKAGE}@{RIC_VERSION}"
    dest = _install(tc, ric_dir(tc, cache), [spec], spec)
    package = dest / "node_modules" / RIC_PACKAGE
    if not (package / "rapid-client.node").is_file():
        raise NodeError(
            f"{RIC_PACKAGE} is installed but its native client is missing ({package})",
            f"delete {dest} and try again",
        )
    return package


def ensure_sdk(tc: Toolchain | None = None, cache: Path | None = None) -> Path:
    """The node_modules folder of the runtime-provided SDK (NODE_PATH), installed on first use."""
    tc = tc or toolchain()
    specs = [f"{name}@{SDK_VERSION}" for name in SDK_PACKAGES]
    dest = _install(tc, sdk_dir(cache), specs, f"the AWS SDK for JavaScript {SDK_VERSION}")
    hooks = dest / "esm"
    files = (
        ("register.mjs", _HOOK_REGISTER),
        ("resolve.mjs", _HOOK_RESOLVE),
        ("callbacks.mjs", _CALLBACKS_REGISTER),
        ("callbacks-load.mjs", _CALLBACKS_LOAD),
        ("callbacks-adapt.mjs", _CALLBACKS_ADAPT),
    )
    for name, text in files:
        path = hooks / name
        if not path.is_file() or path.read_text() != text:
            hooks.mkdir(exist_ok=True)
            tmp = path.with_name(f".{name}.{os.getpid()}")
            tmp.write_text(text)
            os.replace(tmp, path)  # atomic: a parallel launch never reads half a file
    return dest / "node_modules"


def missing(tc: Toolchain, cache: Path | None = None) -> list[str]:
    """What the local cloud's Node workers still need built (empty once built)."""
    out = []
    if not (ric_dir(tc, cache) / _DONE).is_file():
        out.append(f"{RIC_PACKAGE}@{RIC_VERSION}")
    if not (sdk_dir(cache) / _DONE).is_file():
        out.append(f"the AWS SDK for JavaScript {SDK_VERSION}")
    return out


def runtime_major(runtime: str | None) -> int | None:
    """`nodejs22.x` -> 22; None for anything else."""
    if runtime and runtime.startswith("nodejs") and runtime.endswith(".x"):
        digits = runtime[len("nodejs") : -len(".x")]
        return int(digits) if digits.isdigit() else None
    return None


def launch(
    task_root: Path,
    runtime: str | None = None,
    handler: str = protocol.ENTRY_POINT,
    cache: Path | None = None,
    tc: Toolchain | None = None,
) -> NodeLaunch:
    """The command line and the environment additions of one Node execution environment.

    The environment holds what Lambda's Node runtimes set themselves (NODE_PATH with the
    runtime's SDK and the task root, _HANDLER, AWS_EXECUTION_ENV for `runtime`); the worker
    adds the rest (the Runtime API address, the function's variables and identity).
    `tc`: a Toolchain found before (toolchain() runs node once to probe it).
    """
    tc = tc or toolchain()
    ric = ensure_ric(tc, cache)
    sdk = ensure_sdk(tc, cache)
    env = {
        "NODE_PATH": os.pathsep.join([str(sdk), str(task_root)]),
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(ric),
        # The SDK warns on stderr about Node < 22 on every cold start; Lambda's node is current.
        "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true",
    }
    if runtime_major(runtime) is not None:
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{runtime}"
    esm = sdk.parent / "esm"
    hooks: tuple[str, ...] = ("--import", (esm / "register.mjs").as_uri()) if tc.hooks else ()
    if tc.hooks and runtime_major(runtime) in CALLBACK_RUNTIMES and handler != protocol.ENTRY_POINT:
        # (recursectl's guard adapts callback handlers itself)
        hooks += ("--import", (esm / "callbacks.mjs").as_uri())
    args = (tc.node, *tc.flags, *hooks, str(ric / "index.mjs"), handler)
    return NodeLaunch(args=args, env=env, node_version=tc.version)
