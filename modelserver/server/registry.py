"""The versions of one model under its base path, kept in sync with the file system.

This is the stand-in for TF Serving's file-system storage path source plus its manager, with the
transition policy the model server uses (``AvailabilityPreservingPolicy``). Concretely:

* a version is a child directory whose name is an integer and that holds ``saved_model.pb``;
* the version policy (``version_policy.py``, default ``latest 1``) picks the aspired versions among them;
  each aspired version is loaded (and warmed up) before it serves. Versions no longer aspired are
  released only once some aspired version serves, so a push that fails to load leaves the old version
  serving; requests already holding a version finish on it (they keep their own reference);
* a version that fails to load stays in state END with its error. It is retried only when a file in its
  directory changes (TF Serving retries 5 times, 60 s apart);
* availability first, also at start: when no aspired version of a ``latest`` policy loads (a bad push
  of the newest version), the newest older version that loads serves until a newer one does, and the
  failure is logged in one line. ``strict`` (``--strict_load``) turns this off, and ``start`` then refuses
  any failed version;
* version labels (``version_labels`` of the model config) name versions for requests.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2

from modelserver.server.messages import clip
from modelserver.server.servable import Servable
from modelserver.server.version_policy import LATEST, VersionPolicy
from modelserver.status import ServingError, invalid, not_found

log = logging.getLogger("modelserver")

State = get_model_status_pb2.ModelVersionStatus.State
Loader = Callable[[int, str], Servable]


@dataclasses.dataclass
class VersionStatus:
    """What GetModelStatus reports for one version."""

    version: int
    state: int  # a ModelVersionStatus.State value
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""


class ModelRegistry:
    """Loads, swaps and reports the versions of one model.

    Args:
        name: the model name requests must use.
        base_path: the directory holding the version directories.
        poll_seconds: file-system poll period; 0 polls once at start (TF Serving's meaning).
        policy: which versions to serve; default ``latest 1``.
        labels: label -> version.
        loader: loads one version (default ``Servable.load``; the server adds warm-up).
        strict: no falling back to older versions; ``start`` fails if any aspired version fails.
    """

    def __init__(
        self,
        name: str,
        base_path: str,
        poll_seconds: float = 1.0,
        policy: VersionPolicy | None = None,
        labels: Mapping[str, int] | None = None,
        loader: Loader | None = None,
        strict: bool = False,
    ):
        self.name = name
        self.strict = strict
        self.base_path = base_path
        self.poll_seconds = poll_seconds
        self.policy = policy or VersionPolicy()
        self.labels = dict(labels or {})
        self._loader = loader or Servable.load
        self._lock = threading.Lock()  # guards _serving and _statuses
        self._sync_lock = threading.Lock()  # one sync at a time (poller, reconfigure)
        self._serving: dict[int, Servable] = {}
        self._statuses: dict[int, VersionStatus] = {}
        self._failed: dict[int, tuple] = {}  # version -> _stamp of the directory that failed to load
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, require_loaded: bool = True) -> None:
        """Loads the aspired versions, then starts polling.

        Raises:
            RuntimeError: if ``require_loaded`` and no version could be loaded, or, when ``strict``, one
                of them failed.
        """
        self.sync()
        if require_loaded:
            failures = [s for s in self._statuses.values() if s.error_code != grpc.StatusCode.OK]
            if self.strict and failures:
                failure = max(failures, key=lambda s: s.version)
                raise RuntimeError(
                    f"Version {failure.version} of model {self.name} under base path {self.base_path} "
                    f"failed to load, and --strict_load refuses to start without it: {failure.error_message}"
                )
            if not self._serving:
                detail = f": {failures[-1].error_message}" if failures else ""
                raise RuntimeError(
                    f"No loadable version of model {self.name} under base path {self.base_path}{detail}"
                )
        if self.poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll, name=f"poll-{self.name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops polling and releases every serving version (requests holding one finish first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._sync_lock:
            self._unload(list(self._serving))

    def reconfigure(self, base_path: str, policy: VersionPolicy) -> None:
        """Applies a new base path and policy now (a config reload), loading and unloading as needed."""
        with self._sync_lock:
            self.base_path, self.policy = base_path, policy
            self._failed.clear()
        self.sync()

    def sync(self) -> None:
        """One poll: loads the aspired versions that are new, then releases those no longer aspired."""
        with self._sync_lock:
            versions = self.scan()
            aspired = self.policy.aspired(versions)
            for version in sorted(aspired - set(self._serving), reverse=True):
                self._load(version, versions[version])
            if not self._serving and not self.strict and self.policy.kind == LATEST:
                self._fall_back(versions, aspired)
            if aspired & set(self._serving):  # availability preserving: never drop to zero versions
                self._unload([v for v in self._serving if v not in aspired])

    def _fall_back(self, versions: Mapping[int, str], aspired: set[int]) -> None:
        """Loads the newest version below the aspired ones that loads (none serves; under _sync_lock)."""
        failed = sorted(aspired, reverse=True)
        for version in sorted(set(versions) - aspired, reverse=True):
            self._load(version, versions[version])
            if version in self._serving:
                log.warning(
                    "modelserver: model %s serves version %d, the newest version that loads (failed: %s)",
                    self.name, version, ", ".join(map(str, failed)),
                )  # fmt: skip
                return
            failed.append(version)

    def scan(self) -> dict[int, str]:
        """Returns version -> directory for every complete-looking version under the base path."""
        try:
            children = tf.io.gfile.listdir(self.base_path)
        except tf.errors.OpError:
            log.warning("modelserver: cannot list base path %s", self.base_path)
            return {}
        versions: dict[int, str] = {}
        for child in sorted(c.rstrip("/") for c in children):
            if not child.isdigit():
                continue
            path = f"{self.base_path.rstrip('/')}/{child}"
            if int(child) in versions:
                log.warning("modelserver: ignoring %s, version %d already seen", path, int(child))
            elif tf.io.gfile.exists(f"{path}/saved_model.pb"):
                versions[int(child)] = path
        return versions

    def servable(self, version: int | None = None) -> Servable:
        """The servable for a request (highest when ``version`` is None), or TF Serving's NOT_FOUND."""
        serving = self._serving
        if version is None:
            if not serving:
                raise not_found(f"Servable not found for request: Latest({self.name})")
            return serving[max(serving)]
        if version not in serving:
            raise not_found(f"Servable not found for request: Specific({self.name}, {version})")
        return serving[version]

    def version_for_label(self, label: str) -> int:
        """The version a label names, or TF Serving's INVALID_ARGUMENT for an unknown label."""
        if label not in self.labels:
            raise invalid(f"Unrecognized servable version label: {clip(label)}")
        return self.labels[label]

    def serving_versions(self) -> list[int]:
        return sorted(self._serving)

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

    def _load(self, version: int, path: str) -> None:
        stamp = _stamp(path)
        if self._failed.get(version) == stamp:
            return
        self._set_status(VersionStatus(version, State.LOADING))
        try:
            servable = self._loader(version, path)
        except ServingError as error:
            self._failed[version] = stamp
            self._set_status(VersionStatus(version, State.END, error.code, error.message))
            log.error(
                "modelserver: failed to load model %s version %d from %s: %s",
                self.name,
                version,
                path,
                " ".join(error.message.split()),  # one line, whatever the loader said
            )
            return
        self._failed.pop(version, None)
        with self._lock:
            self._serving = {**self._serving, version: servable}  # copy-on-write: readers need no lock
            self._statuses[version].state = State.AVAILABLE
        log.info("modelserver: loaded model %s version %d from %s", self.name, version, path)

    def _unload(self, versions: list[int]) -> None:
        for version in sorted(versions):
            with self._lock:
                serving = dict(self._serving)
                servable = serving.pop(version)
                self._serving = serving
                self._statuses[version].state = State.END
            log.info("modelserver: unloaded model %s version %d from %s", self.name, version, servable.path)

    def _set_status(self, status: VersionStatus) -> None:
        with self._lock:
            self._statuses[status.version] = status

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.sync()
            except Exception:  # noqa: BLE001 - the poller must outlive any file-system hiccup.
                log.exception("modelserver: polling %s failed", self.base_path)


def find_registry(models: Mapping[str, ModelRegistry], name: str, version: int | None) -> ModelRegistry:
    """The registry of a requested model, or TF Serving's NOT_FOUND for an unknown name."""
    if name not in models:
        request = f"Latest({clip(name)})" if version is None else f"Specific({clip(name)}, {version})"
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
