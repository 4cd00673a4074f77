"""The versions of one model under its base path, kept in sync with the file system.

This is the stand-in for TF Serving's file-system storage path source plus its manager, with the
defaults the model server uses: version policy ``latest { num_versions: 1 }`` and the
availability-preserving transition policy. Concretely:

* a version is a child directory whose name is an integer and that holds ``saved_model.pb``;
* the aspired version is the highest one; when it differs from the one serving, it is loaded first and
  then swapped in atomically, and only then is the old one released (requests already holding it
  finish on it, because a request keeps its own reference to the ``Servable``);
* a version that fails to load leaves the old one serving and stays in state END with its error. It is
  retried only when a file in its directory changes (TF Serving retries 5 times, 60 s apart).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2

from serving.servable import Servable
from serving.status import ServingError, not_found

log = logging.getLogger("msrec.serving")

State = get_model_status_pb2.ModelVersionStatus.State


@dataclasses.dataclass
class VersionStatus:
    """What GetModelStatus reports for one version."""

    version: int
    state: int  # a ModelVersionStatus.State value
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""


class ModelRegistry:
    """Loads, swaps and reports the versions of one model (policy ``latest 1``).

    Args:
        name: the model name requests must use.
        base_path: the directory holding the version directories.
        poll_seconds: file-system poll period; 0 polls once at start (TF Serving's meaning).
    """

    def __init__(self, name: str, base_path: str, poll_seconds: float = 1.0):
        self.name = name
        self.base_path = base_path
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._serving: Servable | None = None
        self._statuses: dict[int, VersionStatus] = {}
        self._failed: dict[int, tuple] = {}  # version -> _stamp of the directory that failed to load
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Loads the aspired version, then starts polling.

        Raises:
            RuntimeError: if no version exists or the aspired one fails to load.
        """
        self.sync()
        if self._serving is None:
            failures = [s for s in self._statuses.values() if s.error_code != grpc.StatusCode.OK]
            detail = f": {failures[-1].error_message}" if failures else ""
            raise RuntimeError(
                f"No loadable version of model {self.name} under base path {self.base_path}{detail}"
            )
        if self.poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll, name=f"poll-{self.name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops polling and releases the serving version (requests holding it finish first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            serving, self._serving = self._serving, None
            if serving is not None:
                self._statuses[serving.version].state = State.END
        if serving is not None:
            log.info(
                "msrec serve: unloaded model %s version %d from %s", self.name, serving.version, serving.path
            )

    def sync(self) -> None:
        """One poll: loads the aspired version if it is new, swaps it in, releases the old one."""
        versions = self.scan()
        if not versions:
            return
        version = max(versions)
        path = versions[version]
        serving = self._serving
        if serving is not None and serving.version == version:
            return
        stamp = _stamp(path)
        if self._failed.get(version) == stamp:
            return
        self._set_status(VersionStatus(version, State.LOADING))
        try:
            servable = Servable.load(version, path)
        except ServingError as error:
            self._failed[version] = stamp
            self._set_status(VersionStatus(version, State.END, error.code, error.message))
            log.error(
                "msrec serve: failed to load model %s version %d from %s: %s",
                self.name,
                version,
                path,
                error.message,
            )
            return
        self._failed.pop(version, None)
        with self._lock:
            old, self._serving = self._serving, servable
            self._statuses[version].state = State.AVAILABLE
            if old is not None:
                self._statuses[old.version].state = State.END
        log.info("msrec serve: loaded model %s version %d from %s", self.name, version, path)
        if old is not None:
            log.info("msrec serve: unloaded model %s version %d from %s", self.name, old.version, old.path)

    def scan(self) -> dict[int, str]:
        """Returns version -> directory for every complete-looking version under the base path."""
        try:
            children = tf.io.gfile.listdir(self.base_path)
        except tf.errors.OpError:
            log.warning("msrec serve: cannot list base path %s", self.base_path)
            return {}
        versions: dict[int, str] = {}
        for child in sorted(c.rstrip("/") for c in children):
            if not child.isdigit():
                continue
            path = f"{self.base_path.rstrip('/')}/{child}"
            if int(child) in versions:
                log.warning("msrec serve: ignoring %s, version %d already seen", path, int(child))
            elif tf.io.gfile.exists(f"{path}/saved_model.pb"):
                versions[int(child)] = path
        return versions

    def servable(self, version: int | None = None) -> Servable:
        """The servable for a request, or NOT_FOUND worded as TF Serving's manager does."""
        serving = self._serving
        if version is None:
            if serving is None:
                raise not_found(f"Servable not found for request: Latest({self.name})")
            return serving
        if serving is None or serving.version != version:
            raise not_found(f"Servable not found for request: Specific({self.name}, {version})")
        return serving

    def statuses(self, version: int | None = None) -> list[VersionStatus]:
        """Status of every known version (or just ``version``), highest first."""
        with self._lock:
            known = [dataclasses.replace(s) for s in self._statuses.values()]
        known.sort(key=lambda s: -s.version)
        if version is None:
            if not known:
                raise not_found(f"Could not find any versions of model {self.name}")
            return known
        matching = [s for s in known if s.version == version]
        if not matching:
            raise not_found(f"Could not find version {version} of model {self.name}")
        return matching

    def _set_status(self, status: VersionStatus) -> None:
        with self._lock:
            self._statuses[status.version] = status

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.sync()
            except Exception:  # noqa: BLE001 - the poller must outlive any file-system hiccup.
                log.exception("msrec serve: polling %s failed", self.base_path)


def find_registry(models: Mapping[str, ModelRegistry], name: str, version: int | None) -> ModelRegistry:
    """The registry of a requested model, or TF Serving's NOT_FOUND for an unknown name."""
    if name not in models:
        request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        raise not_found(f"Servable not found for request: {request}")
    return models[name]


def _stamp(path: str) -> tuple:
    """Names, sizes and mtimes of every file in a version directory: a failed load is retried only
    once this changes (e.g. the variables of a half-copied export arrive after saved_model.pb)."""
    entries = []
    try:
        for directory, _, files in tf.io.gfile.walk(path):
            for name in files:
                stat = tf.io.gfile.stat(f"{directory}/{name}")
                entries.append((f"{directory}/{name}", stat.length, stat.mtime_nsec))
    except tf.errors.OpError:
        return ()
    return tuple(sorted(entries))
