"""The environment pool: warm environments taken and given back, capped in total.

Every environment is a worker process, idle or not, so `Limits.total_concurrency` caps
them all: when a new one is needed and the cap is reached, the least recently used idle
environment (of any function) is retired first. (Counting only busy ones let 50 functions
keep 109 workers, 5.1 GB, against a documented 32.) Environments of a function that was
deleted or changed are retired as soon as the control-plane write is seen.
"""

from __future__ import annotations

import sys
import time
import uuid

from recursectl.local import errors
from recursectl.local.config import FunctionConfig
from recursectl.local.engine.core import EngineCore
from recursectl.local.worker import interpreters, sandbox
from recursectl.local.worker.environment import Environment
from recursectl.local.worker.node_env import NodeEnvironment, is_node
from recursectl.local.worker.spawn import kill_tree


class EnvironmentPool(EngineCore):
    def _take_env(
        self, cfg: FunctionConfig, init_retry_of: Environment | None = None
    ) -> Environment:
        """A warm environment of `cfg`, or a new one (`init_retry_of`: always new, the
        second init try of that environment)."""
        stale: list[Environment] = []
        with self._lock:
            state = self._state(cfg.spec.name)
            env = None
            # Newest first; each version keeps its own environments (an idle one of another
            # version is left alone: alternating $LATEST and version 1 stays warm on both).
            for candidate in reversed(state.idle if init_retry_of is None else []):
                if candidate.spec.version != cfg.spec.version:
                    continue
                state.idle.remove(candidate)
                # Its credentials must outlast this invocation (AWS renews them too).
                fresh = candidate.credentials_expire > time.time() + cfg.spec.timeout
                if candidate.alive and candidate.spec == cfg.spec and fresh:
                    env = candidate
                    break
                stale.append(candidate)
                state.envs.discard(candidate)
            if env is None:
                stale += self._make_room()
        for old in stale:
            old.kill()
        if env is not None:
            return env
        if cfg.spec.code_sha not in self.code:
            raise errors.NoCode(
                f"The local cloud has no code for {cfg.spec.name} (CodeSha256 "
                f"{cfg.spec.code_sha}): deploy it again with a zip file while it runs.",
            )
        with self._lock:
            streams = self._state(cfg.spec.name).reset_streams.get(cfg.spec.version)
            stream = streams.pop() if streams and init_retry_of is None else None
        env = self._new_env(cfg, init_retry_of, stream)
        session = self.iam.assume(cfg.spec.role, cfg.spec.name) if cfg.spec.role else None
        if session is not None:  # a new session per environment, as Lambda gives one
            env.credentials, env.credentials_expire = session.env(), session.expires
        with self._lock:  # counted before it starts, so two spawns cannot both pass the cap
            self._state(cfg.spec.name).envs.add(env)
        try:
            env.start()
        except OSError as exc:
            with self._lock:
                self._state(cfg.spec.name).envs.discard(env)
            raise errors.ServiceException(f"Could not start a worker: {exc}") from exc
        return env

    def _new_env(
        self, cfg: FunctionConfig, init_retry_of: Environment | None, stream: str | None = None
    ) -> Environment:
        """An environment of `cfg`'s runtime, not started yet (`stream`: the log stream of
        the environment a timeout reset)."""
        work = self.code.root.parent
        tmp_dir = sandbox.private_tmp(work / "tmp", uuid.uuid4().hex)
        task_root = self.code.task_root(cfg.spec.code_sha)
        if is_node(cfg.spec.runtime):
            return NodeEnvironment(
                cfg.spec, task_root, self.sink, self._spawner,
                tmp_dir=tmp_dir, init_retry_of=init_retry_of, stream=stream,
            )  # fmt: skip
        # The declared runtime's interpreter when this machine has one, else this one.
        python, runtime_dir = interpreters.for_runtime(cfg.spec.runtime) or (
            sys.executable,
            sandbox.runtime_site(work / "runtime"),
        )
        return Environment(
            cfg.spec, task_root, self.sink, self._spawner, python=python,
            runtime_dir=runtime_dir, tmp_dir=tmp_dir, init_retry_of=init_retry_of,
            stream=stream,
        )  # fmt: skip

    def kill_environment_of(self, access_key: str) -> bool:
        """SIGKILL the worker of the environment whose role session has `access_key` (the
        `crash` fault); its invocation ends crashed once its pipes close."""
        with self._lock:
            envs = [env for state in self._states.values() for env in state.envs]
        for env in envs:
            credentials = env.credentials or {}
            if credentials.get("AWS_ACCESS_KEY_ID") == access_key and env.pid is not None:
                kill_tree(env.pid)
                return True
        return False

    def _make_room(self) -> list[Environment]:
        """Idle environments to retire so one more fits under the cap (caller holds the lock)."""
        total = sum(len(s.envs) for s in self._states.values())
        doomed: list[Environment] = []
        if total < self.limits.total_concurrency:
            return doomed
        idle = sorted(
            ((env.last_used, env, s) for s in self._states.values() for env in s.idle),
            key=lambda item: item[0],
        )
        for _, env, state in idle[: total - self.limits.total_concurrency + 1]:
            state.idle.remove(env)
            state.envs.discard(env)
            doomed.append(env)
        return doomed

    def _give_back(self, env: Environment) -> None:
        with self._lock:
            state = self._state(env.spec.name)
            if env.alive and not self._closed.is_set() and env in state.envs:
                state.idle.append(env)
                return
            if env.timed_out and env in state.envs:
                state.reset_streams.setdefault(env.spec.version, []).append(env.stream)
            state.envs.discard(env)
        env.kill()

    def retire_stale(self) -> None:
        """After a control-plane write: retire the environments of deleted or changed
        functions (idle ones now, busy ones when their invocation ends)."""
        with self._lock:
            versions = {
                (e.spec.name, e.spec.version) for s in self._states.values() for e in s.envs
            }
        doomed: list[Environment] = []
        for name, version in versions:
            try:  # each published version is compared with its own configuration
                spec = self.config(name, None if version == "$LATEST" else version).spec
            except errors.ResourceNotFound:
                spec = None
            with self._lock:
                state = self._state(name)
                for env in list(state.envs):
                    if env.spec.version != version:
                        continue
                    if spec is None or env.spec != spec:
                        state.envs.discard(env)  # a busy one is killed when given back
                        if env in state.idle:
                            state.idle.remove(env)
                            doomed.append(env)
        for env in doomed:
            env.kill()

    def reap_idle(self, now: float | None = None) -> None:
        """Kill environments idle longer than the idle timeout (or dead)."""
        now = time.monotonic() if now is None else now
        doomed: list[Environment] = []
        with self._lock:
            for state in self._states.values():
                keep = []
                for env in state.idle:
                    if not env.alive or now - env.last_used > self.limits.idle_timeout:
                        doomed.append(env)
                        state.envs.discard(env)
                    else:
                        keep.append(env)
                state.idle = keep
        for env in doomed:
            env.kill()
