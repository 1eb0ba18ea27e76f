"""Run the differential scenarios with PydanticAI and print what happened, as JSON.

Usage: python pyai_runner.py scenarios.json

Every scenario is played by a FunctionModel replaying the scenario's scripted responses.
The Rust side (mod.rs) plays the same scenarios with Verity and compares. The tools and
output types below have twins of the same names and behaviour in catalogue.rs.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, Union

from pydantic import BaseModel, Field

from pydantic_ai import (
    Agent,
    ApprovalRequired,
    CallDeferred,
    DeferredToolRequests,
    DeferredToolResults,
    ModelMessagesTypeAdapter,
    ModelRetry,
    RunContext,
    Tool,
    ToolApproved,
    ToolDenied,
    UsageLimits,
    capture_run_messages,
)
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import ExternalToolset


# ---------------------------------------------------------------- the catalogue

class CityLocation(BaseModel):
    city: str
    country: str


class Country(BaseModel):
    country: str
    continent: str


class Risk(BaseModel):
    score: int = Field(ge=0, le=10)


OUTPUT_TYPES: dict[str, Any] = {
    'str': str,
    'CityLocation': CityLocation,
    'Risk': Risk,
    'CityOrCountry': Union[CityLocation, Country],  # noqa: UP007
    'StrOrCity': Union[str, CityLocation],  # noqa: UP007
    'StrOrDeferred': [str, DeferredToolRequests],
    'CityOrDeferred': [CityLocation, DeferredToolRequests],
}


@dataclass
class Deps:
    """Per-run state: which tools ran after which response, and retry counters."""

    recorder: 'Recorder'
    flaky_calls: int = 0
    validator_calls: int = 0


async def get_weather(ctx: RunContext[Deps], city: str) -> str:
    """Get the weather in a city."""
    ctx.deps.recorder.executed('get_weather')
    return f'Sunny in {city}'


async def flaky(ctx: RunContext[Deps], x: int) -> int:
    """Double a number; asks for a retry on its 1st, 3rd, 5th... call in a run."""
    ctx.deps.recorder.executed('flaky')
    ctx.deps.flaky_calls += 1
    if ctx.deps.flaky_calls % 2 == 1:
        raise ModelRetry(f'not ready yet for {x}, call again')
    return x * 2


async def always_retry(ctx: RunContext[Deps]) -> str:
    """Never succeeds: always asks for a retry."""
    ctx.deps.recorder.executed('always_retry')
    raise ModelRetry('still not working')


async def fails(ctx: RunContext[Deps]) -> str:
    """Fails with an ordinary error."""
    ctx.deps.recorder.executed('fails')
    raise RuntimeError('the tool broke')


def delete_file(ctx: RunContext[Deps], path: str) -> str:
    """Delete a file (needs approval)."""
    ctx.deps.recorder.executed('delete_file')
    return f'File {path!r} deleted'


def update_file(ctx: RunContext[Deps], path: str, content: str) -> str:
    """Write a file; `.env` needs approval."""
    if path == '.env' and not ctx.tool_call_approved:
        raise ApprovalRequired(metadata={'reason': 'protected'})
    ctx.deps.recorder.executed('update_file')
    return f'File {path!r} updated: {content!r}'


def send_to_worker(ctx: RunContext[Deps], task: str) -> str:
    """Hand a task to a background worker."""
    raise CallDeferred(metadata={'task': task})


TOOLS = {f.__name__: f for f in (get_weather, flaky, always_retry, fails, update_file, send_to_worker)}
TOOLS['delete_file'] = Tool(delete_file, requires_approval=True)

EXTERNAL_TOOLS = {
    'calc': ToolDefinition(
        name='calc',
        description='Calculate something.',
        parameters_json_schema={
            'type': 'object',
            'properties': {'q': {'type': 'string'}},
            'required': ['q'],
        },
    ),
}


def deferred_results(spec: dict[str, Any]) -> DeferredToolResults:
    """The scenario's decisions: approvals `true`/`false`/`{"denied": m}`/`{"override_args": a}`,
    calls `{"return": v}`/`{"retry": m}`/`{"failed": m}`."""
    results = DeferredToolResults(metadata=spec.get('metadata', {}))
    for call_id, a in spec.get('approvals', {}).items():
        if isinstance(a, bool):
            results.approvals[call_id] = a
        elif 'denied' in a:
            results.approvals[call_id] = ToolDenied(a['denied'])
        else:
            results.approvals[call_id] = ToolApproved(override_args=a['override_args'])
    for call_id, c in spec.get('calls', {}).items():
        if 'return' in c:
            results.calls[call_id] = c['return']
        elif 'retry' in c:
            results.calls[call_id] = ModelRetry(c['retry'])
        else:
            results.calls[call_id] = ToolFailed(c['failed'])
    return results


def reject_first(ctx: RunContext[Deps], output: Any) -> Any:
    ctx.deps.validator_calls += 1
    if ctx.deps.validator_calls <= 1:
        raise ModelRetry('not good enough, answer again')
    return output


VALIDATORS = {'reject_first': reject_first}


# ---------------------------------------------------------------- recording


def part_view(part: Any) -> dict[str, Any]:
    """A request part as the model is shown it: its kind, tool name and text."""
    kind = part.part_kind
    view: dict[str, Any] = {'part_kind': kind}
    if getattr(part, 'tool_name', None) is not None:
        view['tool_name'] = part.tool_name
    if kind == 'tool-return':
        view['outcome'] = part.outcome
        view['text'] = part.model_response_str()
    elif kind in ('retry-prompt', 'retry-feedback'):
        view['text'] = part.model_response()
    elif hasattr(part, 'content'):
        view['text'] = part.content if isinstance(part.content, str) else repr(part.content)
    return view


@dataclass
class Recorder:
    responses: list[list[dict[str, Any]]]
    run_index: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    executions: list[list[Any]] = field(default_factory=list)
    position: int = 0

    def executed(self, name: str) -> None:
        # the tool runs after the response of request number len(requests)
        self.executions.append([len(self.requests), name])

    def model(self, messages: list[Any], info: AgentInfo) -> ModelResponse:
        last = next((m for m in reversed(messages) if isinstance(m, ModelRequest)), None)
        self.requests.append(
            {
                'function_tools': [t.name for t in info.function_tools],
                'output_tools': [t.name for t in info.output_tools],
                'allow_text_output': info.allow_text_output,
                'message_count': len(messages),
                'last_request': [part_view(p) for p in last.parts] if last else [],
            }
        )
        if self.position >= len(self.responses):
            script: list[dict[str, Any]] = [{'text': 'SCRIPT EXHAUSTED'}]
        else:
            script = self.responses[self.position]
        self.position += 1
        parts: list[Any] = []
        for i, p in enumerate(script):
            if 'text' in p:
                parts.append(TextPart(p['text']))
            else:
                args = p.get('args', {})
                parts.append(ToolCallPart(p['call'], args, tool_call_id=f'call_{self.run_index}_{self.position}_{i}'))
        return ModelResponse(parts=parts)


def output_json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode='json')
    if isinstance(value, DeferredToolRequests):
        calls = lambda cs: [[c.tool_name, c.args_as_dict(), c.tool_call_id] for c in cs]  # noqa: E731
        return {
            'deferred': {
                'calls': calls(value.calls),
                'approvals': calls(value.approvals),
                'metadata': value.metadata,
            }
        }
    return value


def retry_texts(messages: list[Any]) -> list[dict[str, Any]]:
    """What PydanticAI renders for the model for every retry, failed or retried part."""
    out = []
    for m in messages:
        if not isinstance(m, ModelRequest):
            continue
        for p in m.parts:
            if p.part_kind in ('retry-prompt', 'retry-feedback') or (
                p.part_kind == 'tool-return' and p.outcome != 'success'
            ):
                out.append(part_view(p))
    return out


def run_scenario(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    cfg = scenario.get('agent', {})
    kwargs: dict[str, Any] = {}
    if 'end_strategy' in cfg:
        kwargs['end_strategy'] = cfg['end_strategy']
    retries = {}
    if 'retries' in cfg:
        retries['tools'] = cfg['retries']
    if 'output_retries' in cfg:
        retries['output'] = cfg['output_retries']
    if retries:
        kwargs['retries'] = retries

    results: list[dict[str, Any]] = []
    previous: list[Any] | None = None
    for run_index, run in enumerate(scenario['runs']):
        recorder = Recorder(responses=run['responses'], run_index=run_index)
        agent = Agent(
            FunctionModel(recorder.model, model_name='differential'),
            output_type=OUTPUT_TYPES[scenario.get('output', 'str')],
            deps_type=Deps,
            tools=[TOOLS[name] for name in scenario.get('tools', [])],
            toolsets=[ExternalToolset([EXTERNAL_TOOLS[n] for n in scenario['external_tools']])]
            if 'external_tools' in scenario
            else [],
            **kwargs,
        )
        if 'output_validator' in cfg:
            agent.output_validator(VALIDATORS[cfg['output_validator']])
        run_kwargs: dict[str, Any] = {'deps': Deps(recorder=recorder)}
        if run.get('history') == 'previous':
            run_kwargs['message_history'] = previous
        if 'usage_limits' in run:
            run_kwargs['usage_limits'] = UsageLimits(**run['usage_limits'])
        if 'deferred_results' in run:
            run_kwargs['deferred_tool_results'] = deferred_results(run['deferred_results'])
        result: dict[str, Any] = {}
        with capture_run_messages() as captured:
            try:
                r = agent.run_sync(run.get('prompt'), **run_kwargs)
                result['outcome'] = {'ok': output_json(r.output)}
                messages = r.all_messages()
                result['usage'] = {'requests': r.usage.requests, 'tool_calls': r.usage.tool_calls}
            except Exception as e:  # noqa: BLE001 - any failure is an outcome to compare
                result['outcome'] = {'error': {'type': type(e).__name__, 'message': str(e)}}
                messages = list(captured)
        previous = messages
        result['messages'] = ModelMessagesTypeAdapter.dump_python(messages, mode='json')
        result['requests'] = recorder.requests
        result['executed'] = sorted(recorder.executions)
        result['retry_texts'] = retry_texts(messages)
        results.append(result)
    return results


def main() -> None:
    with open(sys.argv[1]) as f:
        scenarios = json.load(f)
    out = {}
    for scenario in scenarios:
        try:
            out[scenario['name']] = {'runs': run_scenario(scenario)}
        except Exception as e:  # noqa: BLE001 - a broken scenario is reported, not fatal
            out[scenario['name']] = {'harness_error': f'{type(e).__name__}: {e}'}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == '__main__':
    main()
