"""What the scoring API is serving right now: the models, their vocabularies, the online state.

Models come from the MLflow registry (`lakehouse.ml.registry`), champions of
`fraud-detector` (full) and `fraud-detector-basic` (basic). `ModelHolder.refresh` asks the
registry for the champion versions (a cheap call), and when one changed it loads the new
model completely — and, for the full model, the lake history it needs — *before* replacing a
single reference to an immutable `Snapshot`. A request reads that reference once, so it is
scored entirely by the old models or entirely by the new ones: a swap drops no request.

The hot-reload loop (`reload.py`) and `POST /model/reload` both call `refresh`; `/health`
and `/model/info` read the snapshot's `unavailable` reasons ("no champion registered: run
`lakehouse train`").
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from api_ml.api.codes import warm_category_codes
from api_ml.api.metrics import ScoringMetrics
from api_ml.api.normalise import Vocabulary
from api_ml.api.online import OnlineState
from api_ml.api.online_lake import StateUnavailable, lake_version
from lakehouse.config import Settings
from lakehouse.ml import registry
from lakehouse.ml.compiled_trees import CompiledTrees, compile_trees
from lakehouse.ml.features import FEATURE_SET_VERSION
from lakehouse.ml.single_row import SingleRowPredictor

logger = logging.getLogger("lakehouse.api_ml.state")

FLAVOURS: tuple[Literal["basic", "full"], ...] = ("basic", "full")
ALIAS = "champion"


def registered_name(settings: Settings, flavour: str) -> str:
    """The registered name of `flavour`: `lakehouse.ml.registry.model_name`, the one rule.

    Args:
        settings: the configuration (`LAKEHOUSE_MODEL_NAME`).
        flavour: `basic` or `full`.

    Returns:
        The MLflow registered model name.
    """
    return registry.model_name(settings, flavour)


@dataclass(frozen=True)
class ServingModel:
    """One loaded champion, ready to score without any I/O."""

    model: registry.LoadedModel
    vocabulary: Vocabulary
    loaded_at: str
    online: OnlineState | None = None

    @property
    def version(self) -> str:
        """The champion's registry version, as a string."""
        return str(self.model.version)


@dataclass(frozen=True)
class Snapshot:
    """Everything a request needs, replaced as a whole on reload."""

    models: dict[str, ServingModel] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def versions(self) -> dict[str, str]:
        """The version served for each flavour.

        Returns:
            Flavour to model version, for the loaded flavours only.
        """
        return {flavour: served.version for flavour, served in self.models.items()}


def vocabulary_of(model: registry.LoadedModel) -> Vocabulary:
    """The categorical values the model was trained on, as training recorded them.

    The model's metadata carries its request vocabulary, foreign places of its training data
    included (`lakehouse.ml.features.request_vocabulary`), so loading reads nothing else. A
    model trained before it was recorded gets the source format's spellings and no foreign
    place (any foreign place is still accepted; only its spelling is not normalised).

    Args:
        model: the loaded champion.

    Returns:
        The vocabulary `/predict` accepts for this model.
    """
    if not model.vocabulary:
        logger.info("%s v%s records no vocabulary: the source format's", model.name, model.version)
    return Vocabulary.from_values(model.vocabulary)


class _SingleThreadBooster:
    """A LightGBM booster whose predictions run on the calling thread only.

    A request scores one row (or a batch of at most 1,000): waking OpenMP worker threads for
    that costs far more than the trees, milliseconds instead of microseconds on a busy
    machine. Concurrency comes from serving requests in parallel, not from within one.
    Raw scores come from the compiled trees when there are some (`compiled_trees`: the same
    numbers, a third of the CPU for a batch, half for one row); a single row otherwise goes
    through LightGBM's fast single-row API (`SingleRowPredictor`), as TreeSHAP's rows do;
    anything else through `Booster.predict`.
    """

    def __init__(self, booster: Any, compiled: CompiledTrees | None = None) -> None:
        self._booster = booster
        self._single_row = SingleRowPredictor(booster, num_threads=1)
        self._compiled = compiled

    def predict(self, data: Any, **kwargs: Any) -> Any:
        # The loaded model may ask for its own thread count (large batches): one it is, here.
        kwargs.pop("num_threads", None)
        if (
            self._compiled is not None
            and kwargs == {"raw_score": True}
            and isinstance(data, np.ndarray)
            and data.ndim == 2
        ):
            return self._compiled.raw_score(data)
        kind = self._single_row.accepts(data, kwargs)
        if kind is not None:
            return self._single_row.predict(data, kind)
        return self._booster.predict(data, num_threads=1, **kwargs)

    @property
    def compiled(self) -> bool:
        """Whether its raw scores come from compiled trees."""
        return self._compiled is not None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._booster, name)


def single_threaded(model: registry.LoadedModel, compiled: bool = False) -> registry.LoadedModel:
    """The same loaded model, predicting on one thread (the registry's object is untouched).

    Args:
        model: a model loaded from the registry.
        compiled: compile its trees for the raw scores (`Settings.compiled_trees`; when they
            cannot be compiled, LightGBM's predictor answers, as without).

    Returns:
        A copy whose booster predicts with `num_threads=1`.
    """
    trees = compile_trees(model.booster) if compiled else None
    return replace(model, booster=_SingleThreadBooster(model.booster, trees))


class ModelHolder:
    """Holds the current `Snapshot`; `refresh` swaps in newly promoted champions."""

    def __init__(self, settings: Settings, metrics: ScoringMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self._snapshot = Snapshot(unavailable={f: "not loaded yet" for f in FLAVOURS})
        self._refresh_lock = threading.Lock()  # one reload at a time; readers never wait

    @property
    def snapshot(self) -> Snapshot:
        """The current snapshot (replaced as a whole by `refresh`; read without a lock)."""
        return self._snapshot

    def refresh(self, force: bool = False) -> bool:
        """Load champions whose version changed (all of them with `force`); True if any did.

        A flavour without a champion becomes unavailable; a failed load is logged and counted,
        and the previous champion, if any, keeps serving. The new snapshot replaces the old one
        in one assignment.

        Args:
            force: reload every champion even when its version did not change.

        Returns:
            True when at least one model was (re)loaded.
        """
        with self._refresh_lock:
            current = self._snapshot
            models = dict(current.models)
            unavailable: dict[str, str] = {}
            changed = False
            for flavour in FLAVOURS:
                try:
                    loaded = self._load_if_changed(flavour, current.models.get(flavour), force)
                except _NoChampion as exc:
                    unavailable[flavour] = str(exc)
                    models.pop(flavour, None)
                    continue
                except Exception as exc:  # a broken registry or lake must not stop the service
                    logger.exception("loading the %s model failed", flavour)
                    self._count(flavour, "failed")
                    if flavour not in models:  # otherwise keep serving the previous champion
                        unavailable[flavour] = f"loading failed: {exc}"
                    continue
                if loaded is not None:
                    previous = models.get(flavour)
                    models[flavour] = loaded
                    changed = True
                    self._count(flavour, "loaded")
                    if self.metrics:
                        self.metrics.serving(
                            flavour,
                            loaded.model.name,
                            loaded.version,
                            previous.version if previous else None,
                        )
            self._snapshot = Snapshot(models, unavailable)  # the atomic swap
            if changed:
                _settle_heap()
            return changed

    def _count(self, flavour: str, outcome: str) -> None:
        if self.metrics:
            self.metrics.reloads.labels(flavour, outcome).inc()

    def _load_if_changed(
        self, flavour: str, serving: ServingModel | None, force: bool
    ) -> ServingModel | None:
        name = registered_name(self.settings, flavour)
        uri = self.settings.mlflow_tracking_uri
        version = registry.current_version(name, ALIAS, tracking_uri=uri)
        if version is None:
            raise _NoChampion(f"no champion registered for {name}: run `lakehouse train`")
        if serving is not None and serving.version == str(version) and not force:
            return self._with_fresh_lake(serving) if flavour == "full" else None
        model = single_threaded(
            registry.load_model(name, ALIAS, tracking_uri=uri), self.settings.compiled_trees
        )
        if model.feature_set_version != FEATURE_SET_VERSION:
            # Its inputs would be computed by different definitions than it learned from.
            raise RuntimeError(
                f"{name} v{model.version} was trained on feature set "
                f"{model.feature_set_version}, this service computes {FEATURE_SET_VERSION}: "
                "retrain with `lakehouse train` or deploy the matching service version"
            )
        online = None
        if flavour == "full":
            try:
                online = self._online(serving.online if serving else None)
            except StateUnavailable as exc:
                raise StateUnavailable(f"{name} v{model.version} is registered but {exc}") from exc
        vocabulary = vocabulary_of(model)
        if flavour == "basic":
            warm_category_codes(vocabulary)
        logger.info("serving %s version %s", name, model.version)
        return ServingModel(model, vocabulary, _now(), online)

    def _with_fresh_lake(self, serving: ServingModel) -> ServingModel | None:
        """Same model, newer lake: a pipeline run since the last load rebuilds the state."""
        assert serving.online is not None
        if lake_version(self.settings) == serving.online.lake_version:
            return None
        online = self._online(serving.online)
        return replace(serving, online=online, loaded_at=_now())

    def _online(self, previous: OnlineState | None) -> OnlineState:
        """A new online state from the lake, with `previous`'s scored events replayed."""
        online = OnlineState.load(self.settings, previous)
        if self.metrics is not None:
            errors = self.metrics.online_errors
            online.on_error = lambda operation: errors.labels(operation).inc()
        return online


class _NoChampion(RuntimeError):
    """Nothing to serve for a flavour; the message says what to run."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _settle_heap() -> None:
    """Take what the service now holds for good (models, online state) out of the cyclic
    collector's sight.

    A request's allocations trigger collections; each full one walked the whole long-lived
    heap again (~25 µs a row of a 1,000-row batch on the tests' small lake, more on a large
    state). Frozen objects are skipped. The previous snapshot's objects, frozen at its load,
    are unfrozen and collected first, so its cyclic garbage is freed: one full collection per
    load, in the loading thread, instead of many while serving.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
