"""Swap operations for fakes and record every call, in the generated modules only.

A generated module imports each user function under a name of its own (``left`` may
be imported ``as left_2``), so the swap looks the function up by identity among the
module's globals and puts a recording wrapper (around the fake, if there is one) in
its place; :func:`patched` puts the originals back afterwards. User modules are never
touched: a test that calls the function directly still gets the real one.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from pulpo.errors import RunError, did_you_mean
from pulpo.testing.result import OperationCall


class Recorder:
    """Collects :class:`OperationCall` records from any thread, in start order."""

    def __init__(self) -> None:
        self.calls: list[OperationCall] = []
        self._lock = threading.Lock()
        self._origin = time.perf_counter()

    def start(self, operation: str) -> OperationCall:
        with self._lock:
            call = OperationCall(operation, time.perf_counter() - self._origin)
            self.calls.append(call)
            return call

    def end(
        self, call: OperationCall, output: Any, error: BaseException | None
    ) -> None:
        with self._lock:
            call.ended = time.perf_counter() - self._origin
            call.output = output
            call.error = error

    def validated(self, operation: str, raw: Any, value: Any) -> None:
        """Replace the raw output of ``operation``'s call that returned ``raw`` by the
        value validated against its output datamodel."""
        with self._lock:
            for call in reversed(self.calls):
                if call.operation == operation and call.output is raw:
                    call.output = value
                    return

    def elapsed(self) -> float:
        return time.perf_counter() - self._origin


def check_operations(
    fakes: Mapping[str, Callable[..., Any]],
    flow: str,
    in_run: Mapping[str, Callable[..., Any]],
    known: list[str],
) -> None:
    """Each fake must replace an operation of this run and take the same parameters.

    Raises:
        RunError: naming the operation: unknown (did-you-mean), not part of the run,
            not callable, or a different signature.
    """
    for name, fake in fakes.items():
        if name not in in_run:
            if name in known:
                raise RunError(
                    f"operation {name!r} does not run in flow {flow!r}, so replacing "
                    f"it changes nothing; its operations: {', '.join(sorted(in_run))}",
                    flow=flow,
                    operation=name,
                    candidates=sorted(in_run),
                )
            raise RunError(
                f"cannot replace unknown operation {name!r}"
                f"{did_you_mean(name, known)}; flow {flow!r} runs: "
                f"{', '.join(sorted(in_run))}",
                flow=flow,
                operation=name,
                candidates=sorted(in_run),
            )
        if not callable(fake):
            raise RunError(
                f"the replacement for operation {name!r} is {fake!r}, not a function",
                operation=name,
            )
        problem = _signature_problem(in_run[name], fake)
        if problem:
            raise RunError(
                f"the replacement for operation {name!r} ({_describe(fake)}) {problem}; "
                f"give it the operation's signature "
                f"{_show_signature(in_run[name])}",
                operation=name,
            )


@contextmanager
def patched(
    modules: tuple[ModuleType, ...],
    functions: Mapping[str, Callable[..., Any]],
    fakes: Mapping[str, Callable[..., Any]],
    recorder: Recorder,
) -> Iterator[None]:
    """Within the block, the generated ``modules`` call recording wrappers (around
    the fakes where given) instead of the user's functions."""
    by_identity = {id(function): name for name, function in functions.items()}
    saved: list[tuple[ModuleType, str, Any]] = []
    try:
        for module in modules:
            for attribute, value in list(vars(module).items()):
                operation = by_identity.get(id(value))
                if operation is not None and value is functions[operation]:
                    target = fakes.get(operation, value)
                    wrapper = _recording(operation, value, target, recorder)
                    saved.append((module, attribute, value))
                    setattr(module, attribute, wrapper)
            for helper, replace in _helpers(recorder).items():
                original = getattr(module, helper, None)
                if original is not None:
                    saved.append((module, helper, original))
                    setattr(module, helper, replace(original))
        yield
    finally:
        for module, attribute, value in reversed(saved):
            setattr(module, attribute, value)


def _helpers(
    recorder: Recorder,
) -> dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]]:
    """Generated modules' run-time helpers to wrap, by name."""
    return {
        # Records the validated output (e.g. a dict the function returned, as its
        # datamodel).
        "validate_output": lambda original: _validating(original, recorder),
        # Without a database, the tasks of replaced operations still run; a real
        # operation that uses a document then fails saying Beanie is not set up.
        "init_documents": lambda original: functools.partial(original, required=False),
    }


def _recording(
    operation: str,
    original: Callable[..., Any],
    target: Callable[..., Any],
    recorder: Recorder,
) -> Callable[..., Any]:
    """A function of ``original``'s kind (sync or async) that calls ``target``."""
    target_is_async = inspect.iscoroutinefunction(target)

    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def recorded_async(*args: Any, **kwargs: Any) -> Any:
            call = recorder.start(operation)
            try:
                output = target(*args, **kwargs)
                if inspect.isawaitable(output):
                    output = await output
            except BaseException as error:
                recorder.end(call, None, error)
                raise
            recorder.end(call, output, None)
            return output

        return recorded_async

    @functools.wraps(original)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        call = recorder.start(operation)
        try:
            if target_is_async:  # an async fake of a sync operation: runs in a thread
                output = asyncio.run(target(*args, **kwargs))
            else:
                output = target(*args, **kwargs)
        except BaseException as error:
            recorder.end(call, None, error)
            raise
        recorder.end(call, output, None)
        return output

    return recorded


def _validating(original: Callable[..., Any], recorder: Recorder) -> Callable[..., Any]:
    @functools.wraps(original)
    def validate_output(operation: str, model: type[Any], value: Any) -> Any:
        validated = original(operation, model, value)
        recorder.validated(operation, value, validated)
        return validated

    return validate_output


def _signature_problem(
    original: Callable[..., Any], fake: Callable[..., Any]
) -> str | None:
    """Why ``fake`` cannot stand in for ``original`` (generated code calls it with
    keyword arguments named after ``original``'s parameters), or None."""
    try:
        theirs = inspect.signature(fake)
    except (TypeError, ValueError):
        return None  # a builtin or C callable: nothing to check
    ours = inspect.signature(original).parameters
    params = theirs.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        extra = []
    else:
        missing = [name for name in ours if name not in params]
        if missing:
            return f"does not take {', '.join(map(repr, missing))}"
        extra = [
            name
            for name, p in params.items()
            if name not in ours
            and p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
    if extra:
        return (
            f"requires {', '.join(map(repr, extra))}, which the operation does not take"
        )
    positional_only = [n for n, p in params.items() if p.kind is p.POSITIONAL_ONLY]
    if positional_only:
        return f"takes {', '.join(map(repr, positional_only))} positionally only"
    ours_hints = _hints(original)
    theirs_hints = _hints(fake)
    for name in ours:
        if name not in ours_hints:
            continue
        expected = _plain(ours_hints[name])
        if name in theirs_hints:
            differs = _plain(theirs_hints[name]) != expected
            shown = _show(theirs_hints[name])
        else:  # a fake defined in a test, annotated with names imported inside it
            raw = params[name].annotation if name in params else None
            differs = (
                isinstance(raw, str)
                and _is_dotted_name(raw)
                and raw.rpartition(".")[2] != getattr(expected, "__name__", raw)
            )
            shown = str(raw)
        if differs:
            return f"annotates {name!r} as {shown}, the operation as {_show(expected)}"
    return None


def _is_dotted_name(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # unresolvable annotations: compare names only
        return {}


def _plain(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _show(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation).replace(
        "typing.", ""
    )


def _describe(function: Callable[..., Any]) -> str:
    name = getattr(function, "__qualname__", None) or repr(function)
    module = getattr(function, "__module__", None)
    return f"{module}.{name}" if module else name


def _show_signature(function: Callable[..., Any]) -> str:
    return f"{function.__name__}{inspect.signature(function)}"
