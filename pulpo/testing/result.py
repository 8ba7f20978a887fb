"""What a test run of a flow gives back: every operation's calls, outputs and timing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pulpo.errors import RunError, did_you_mean


@dataclass
class OperationCall:
    """One call of an operation's function (a mapped operation has one per item).

    ``started`` and ``ended`` are seconds since the run began (a monotonic clock);
    ``ended`` is ``None`` while the call runs (or when the run timed out first).
    """

    operation: str
    started: float
    ended: float | None = None
    output: Any = None
    error: BaseException | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@dataclass(frozen=True)
class OperationTiming:
    """When an operation ran: its first call's start, its last call's end (seconds
    since the run began), and how many calls it made (retried attempts included)."""

    started: float
    ended: float | None
    calls: int

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@dataclass
class FlowResult:
    """A flow run in a test: what it returned and what each operation did.

    Attributes:
        flow: The flow's name.
        value: What the flow returned (its operations' outputs by name).
        calls: Every operation call, in the order the calls started.
        seconds: How long the run took, start to end.
    """

    flow: str
    value: Any = None
    calls: list[OperationCall] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ran(self) -> list[str]:
        """The operations that ran, each once, in the order they first started."""
        return list(dict.fromkeys(call.operation for call in self.calls))

    @property
    def timings(self) -> dict[str, OperationTiming]:
        """Per operation: first start, last end and number of calls."""
        found: dict[str, OperationTiming] = {}
        for name in self.ran:
            calls = [call for call in self.calls if call.operation == name]
            ends = [call.ended for call in calls]
            found[name] = OperationTiming(
                started=calls[0].started,
                ended=None if None in ends else max(e for e in ends if e is not None),
                calls=len(calls),
            )
        return found

    def output(self, operation: str) -> Any:
        """What ``operation`` returned (validated against its output datamodel); of
        a retried operation, what its successful attempt returned.

        Raises:
            RunError: the operation did not run (did-you-mean), did not return, or
                returned more than once (a mapped operation: use :meth:`outputs`).
        """
        returned = self.outputs(operation)
        if len(returned) != 1:
            raise RunError(
                f"operation {operation!r} returned {len(returned)} times"
                + (
                    " (a mapped operation runs once per item)"
                    if returned
                    else f" (it raised: {self._calls_of(operation)[-1].error!r})"
                )
                + f"; use result.outputs({operation!r}) for every call's output",
                operation=operation,
            )
        return returned[0]

    def outputs(self, operation: str) -> list[Any]:
        """The output of every call of ``operation`` that returned, in the order the
        calls started (attempts that raised are left out)."""
        return [
            call.output
            for call in self._calls_of(operation)
            if call.error is None and call.ended is not None
        ]

    def _calls_of(self, operation: str) -> list[OperationCall]:
        calls = [call for call in self.calls if call.operation == operation]
        if not calls:
            ran = self.ran
            raise RunError(
                f"operation {operation!r} did not run in flow {self.flow!r}"
                f"{did_you_mean(operation, ran)}; it ran: {', '.join(ran) or 'nothing'}",
                flow=self.flow,
                operation=operation,
                candidates=ran,
            )
        return calls


class FlowFailed(RunError):
    """The flow failed (or timed out) in a test; ``result`` holds what ran until then."""

    def __init__(self, error: RunError, result: FlowResult) -> None:
        super().__init__(
            error.message,
            flow=error.flow,
            operation=error.operation,
            candidates=error.candidates,
            **error.details,
        )
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunError, (self.message,))
