"""The set of served models, kept in line with a ``tensorflow.serving.ModelServerConfig``.

TF Serving's ``ServerCore``: ``--model_config_file`` lists models (name, absolute base path, version
policy, version labels); ``--model_name``/``--model_base_path`` is a one-model list. A new config
*replaces* the old one: new models are loaded, changed ones reconfigured, missing ones unloaded. New
configs arrive by re-reading the file every ``--model_config_file_poll_wait_seconds`` or through
``ModelService/HandleReloadConfigRequest``. The checks and messages are ``server_core.cc``'s.

A config from the file is trusted; one from a request may only point models at base paths under the
directories the file has named (``reload_roots`` adds more): TF Serving lets any client that reaches
the port load any path, which a shared development server should not.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable

import grpc
from tensorflow_serving.config import model_server_config_pb2

from modelserver.server.config_protos import ConfigError, parse_text
from modelserver.server.messages import clip
from modelserver.server.registry import Loader, ModelRegistry
from modelserver.server.version_policy import VersionPolicy
from modelserver.status import ServingError, invalid

log = logging.getLogger("modelserver")

ModelServerConfig = model_server_config_pb2.ModelServerConfig


def single_model_config(name: str, base_path: str) -> ModelServerConfig:
    """The config ``--model_name``/``--model_base_path`` stand for."""
    config = ModelServerConfig()
    config.model_config_list.config.add(name=name, base_path=base_path, model_platform="tensorflow")
    return config


class ModelManager:
    """Owns one ``ModelRegistry`` per configured model; ``models`` is what the fronts look names up in.

    Args:
        loader_for: model name -> the loader of its versions (loading plus warm-up).
        poll_seconds: file-system poll period of every model.
        allow_unavailable_labels: TF Serving's ``--allow_version_labels_for_unavailable_models``.
        strict: ``--strict_load``: no falling back to older versions, and a failed version fails start.
        reload_roots: directories, besides the base paths of trusted configs, that a config from a
            request may use.
    """

    def __init__(
        self,
        loader_for: Callable[[str], Loader],
        poll_seconds: float = 1.0,
        allow_unavailable_labels: bool = False,
        strict: bool = False,
        reload_roots: Iterable[str] = (),
    ):
        self.models: dict[str, ModelRegistry] = {}
        self._loader_for = loader_for
        self._poll_seconds = poll_seconds
        self._allow_unavailable_labels = allow_unavailable_labels
        self._strict = strict
        self.reload_roots: set[str] = {_real(root) for root in reload_roots}
        self._lock = threading.Lock()  # one config change at a time
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def apply(self, config: ModelServerConfig, initial: bool = False, trusted: bool = True) -> None:
        """Makes the served models those of ``config``; waits until their versions are loaded.

        Args:
            config: the new config.
            initial: the server is starting (a model without a loadable version fails the start).
            trusted: the config comes from the config file (its base paths become reload roots), not
                from a request (its base paths must be under the reload roots).

        Raises:
            ServingError: INVALID_ARGUMENT for a config TF Serving rejects, PERMISSION_DENIED for an
                untrusted base path; otherwise the first model's load error (the models that did load
                keep serving, as in TF Serving).
        """
        entries = _checked(config)
        if trusted:
            self.reload_roots |= {_real(entry.base_path) for entry in entries}
        else:
            self._check_roots(entries)
        with self._lock:
            for entry in entries:  # before anything changes: a rejected config changes nothing
                self._check_labels(entry)
            errors = []
            for entry in entries:
                try:
                    self._apply_model(entry, initial)
                except ServingError as error:
                    errors.append(error)
            for name in [n for n in self.models if n not in {e.name for e in entries}]:
                self.models.pop(name).stop()
            if errors:
                raise errors[0]

    def watch(self, path: str, poll_seconds: float) -> None:
        """Re-reads the config file every ``poll_seconds`` and applies it when it changed."""
        if poll_seconds <= 0:
            return
        with open(path, encoding="utf-8") as f:
            last = f.read()

        def poll() -> None:
            nonlocal last
            while not self._stop.wait(poll_seconds):
                try:
                    with open(path, encoding="utf-8") as f:
                        text = f.read()
                    if text != last:
                        last = text
                        self.apply(parse_text(text, "ModelServerConfig"))
                        log.info("modelserver: applied model config from %s", path)
                except (OSError, ConfigError, ServingError) as error:
                    log.error("modelserver: model config %s not applied: %s", path, error)

        self._watcher = threading.Thread(target=poll, name="config-poll", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
        with self._lock:
            for registry in self.models.values():  # kept, so their final statuses stay readable
                registry.stop()

    def _apply_model(self, entry, initial: bool) -> None:
        policy = VersionPolicy.from_proto(entry.model_version_policy)
        labels = dict(entry.version_labels)  # checked by _check_labels
        registry = self.models.get(entry.name)
        if registry is None:
            registry = ModelRegistry(
                entry.name,
                entry.base_path,
                self._poll_seconds,
                policy,
                loader=self._loader_for(entry.name),
                strict=self._strict,
            )
            self.models[entry.name] = registry  # visible (status, errors) even if nothing loads
            try:
                registry.start(require_loaded=True)
            except RuntimeError as error:
                if initial:
                    raise ServingError(grpc.StatusCode.UNKNOWN, str(error)) from error
                registry.start(require_loaded=False)  # keep polling: a fixed push will load
                raise ServingError(grpc.StatusCode.UNKNOWN, str(error)) from error
        elif (registry.base_path, registry.policy) != (entry.base_path, policy):
            registry.reconfigure(entry.base_path, policy)
        registry.labels = labels

    def _check_roots(self, entries: list) -> None:
        for entry in entries:
            path = _real(entry.base_path)
            if not any(path == root or path.startswith(root.rstrip("/") + "/") for root in self.reload_roots):
                raise ServingError(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"base_path {clip(entry.base_path)} of model {clip(entry.name)} is outside the "
                    "directories this server loads models from by request: those its --model_config_file "
                    "names and those of --allowed_reload_base_paths",
                )

    def _check_labels(self, entry) -> None:
        """ServerCore's rule: a label may name only a version that is serving already (so not at start),
        unless ``allow_unavailable_labels``, which lets *new* labels name any version."""
        registry = self.models.get(entry.name)
        serving = set(registry.serving_versions()) if registry is not None else set()
        current = registry.labels if registry is not None else {}
        for label, version in sorted(entry.version_labels.items()):
            if version in serving or current.get(label) == version:
                continue
            if self._allow_unavailable_labels and label not in current:
                continue
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Request to assign label to version {version} of model {entry.name}, which is not "
                "currently available for inference",
            )


def _checked(config: ModelServerConfig) -> list:
    """The ModelConfig entries, after ServerCore's checks."""
    if config.WhichOneof("config") != "model_config_list":
        raise invalid(
            "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is "
            "currently supported"
        )
    entries = list(config.model_config_list.config)
    seen: set[str] = set()
    for entry in entries:
        if not entry.name:
            raise invalid("ModelConfig has no name specified.")
        if entry.name in seen:
            raise invalid(f"Illegal to list model {clip(entry.name)} multiple times in config list")
        seen.add(entry.name)
        if not os.path.isabs(entry.base_path) and "://" not in entry.base_path:
            raise invalid(
                f"Expected model {clip(entry.name)} to have an absolute path or URI; got "
                f"base_path()={clip(entry.base_path)}"
            )
        if entry.model_platform not in ("", "tensorflow"):
            raise invalid(
                f"Model {clip(entry.name)} requested unsupported platform {clip(entry.model_platform)}"
            )
        if entry.HasField("logging_config"):
            log.warning("modelserver: logging_config of model %s is ignored", clip(entry.name))
    return entries


def _real(path: str) -> str:
    """A base path with symlinks and ".." resolved (URIs as they are), to compare against the roots."""
    return path if "://" in path else os.path.realpath(path)
