"""Writes the UI message streams PydanticAI's Vercel adapter produces for two scripted
runs, the golden files verity-ui's tests compare Verity's streams with.

Run with a Python that has pydantic-ai 2.68 installed, from this directory:

    python pydantic_ai_stream.py

Scenarios (the Rust tests script the same model responses):
- `tool`: the model says "Let me check.", calls get_weather({"city": "Paris"}) with its
  arguments streamed in two pieces, the tool returns "sunny", the model answers
  "It is sunny in Paris." in three pieces;
- `tool_data`: the `tool` scenario, the tool returning a `ToolReturn` whose metadata is a
  `data-weather` chunk and a `source-url` chunk, which follow its output;
- `reasoning`: the model thinks "The user greets me.", then answers "Hello there!" in two
  pieces;
- `approval` (AI SDK v6): the model calls delete_file({"path": "notes.txt"}), a tool that
  needs approval, and the run stops at it; `approval_resumed`: the user approved (the
  assistant message sent back with the tool part `approval-responded`), the tool runs and
  the model answers "Done: deleted notes.txt"; `approval_denied`: the same, the user
  denied it ("Not now."), and the model answers with the denial;
- `invalid_args` (AI SDK v6): the model calls get_weather({"city": 3}) and an unknown
  get_forecast({}) in one response; both come back as retries (`tool-input-error`), then
  the model answers "Sorry, I could not check.".

With `ag-ui-protocol` (1.0) installed too, PydanticAI's `AGUIAdapter` streams are written:
- `ag_ui_tool.sse`: the `tool` scenario; `ag_ui_invalid_args.sse`: the `invalid_args` one;
- `ag_ui_tool_usage.sse`: the `tool` scenario for an AG-UI 1.0 client, with
  `include_usage` (token usage on `RUN_FINISHED`);
- `ag_ui_tool_events.sse`: a tool returns a `ToolReturn` whose metadata is a state snapshot
  and a custom event, which follow its result;
- `ag_ui_frontend_tool.sse`: the client offers a frontend tool, show_map; the model says
  "Let me show you.", calls show_map({"city": "Paris"}) with its arguments in two pieces, and
  the run stops there (the client declares AG-UI 1.0, so the call is named as pending);
  `ag_ui_frontend_tool_resumed.sse`: the client sends the call back with its result
  ("The map is shown."), the model answers "Paris is on your screen." in two pieces;
- `ag_ui_approval.sse`: the `approval` scenario, ending with an interrupt;
  `ag_ui_approval_approved.sse` / `ag_ui_approval_denied.sse`: the client resumes the
  interrupt approved / denied with a reason ("Keep it."), and the model answers;
  `ag_ui_approval_malformed.sse`: the resume payload does not match the interrupt's
  `responseSchema` (`approved` is not a boolean), so the run fails.
"""

import asyncio
import json
from pathlib import Path

from pydantic_ai import Agent, DeferredToolRequests, ToolReturn
from pydantic_ai.messages import ModelMessage, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaThinkingPart, DeltaToolCall, FunctionModel
from pydantic_ai.ui.vercel_ai import VercelAIAdapter
from pydantic_ai.ui.vercel_ai.request_types import SubmitMessage, TextUIPart, UIMessage
from pydantic_ai.ui.vercel_ai.response_types import DataChunk, SourceUrlChunk


async def tool_model(messages: list[ModelMessage], info: AgentInfo):
    if any(isinstance(p, ToolReturnPart) for p in messages[-1].parts):
        for text in ['It is ', 'sunny in ', 'Paris.']:
            yield text
    else:
        yield 'Let me check.'
        yield {0: DeltaToolCall(name='get_weather', json_args='{"city":', tool_call_id='call_1')}
        yield {0: DeltaToolCall(json_args=' "Paris"}')}


async def invalid_args_model(messages: list[ModelMessage], info: AgentInfo):
    if len(messages) > 1:
        yield 'Sorry, I could not check.'
    else:
        yield {0: DeltaToolCall(name='get_weather', json_args='{"city": 3}', tool_call_id='call_1')}
        yield {1: DeltaToolCall(name='get_forecast', json_args='{}', tool_call_id='call_2')}


async def events_model(messages: list[ModelMessage], info: AgentInfo):
    if len(messages) > 1:
        yield 'Updated.'
    else:
        yield {0: DeltaToolCall(name='update_state', json_args='{}', tool_call_id='call_1')}


async def reasoning_model(messages: list[ModelMessage], info: AgentInfo):
    yield {0: DeltaThinkingPart(content='The user greets me.')}
    yield 'Hello '
    yield 'there!'


tool_agent = Agent(FunctionModel(stream_function=tool_model))


@tool_agent.tool_plain
def get_weather(city: str) -> str:
    return 'sunny'


reasoning_agent = Agent(FunctionModel(stream_function=reasoning_model))

data_agent = Agent(FunctionModel(stream_function=tool_model))


@data_agent.tool_plain(name='get_weather')
def get_weather_with_data(city: str) -> ToolReturn:
    return ToolReturn(
        return_value='sunny',
        metadata=[
            DataChunk(type='data-weather', id='w1', data={'city': city, 'sky': 'sunny'}),
            SourceUrlChunk(source_id='s1', url='https://weather.example/paris', title='Paris weather'),
        ],
    )

invalid_args_agent = Agent(FunctionModel(stream_function=invalid_args_model))
invalid_args_agent.tool_plain(get_weather)


async def approval_model(messages: list[ModelMessage], info: AgentInfo):
    returns = [p for p in messages[-1].parts if isinstance(p, ToolReturnPart)]
    if returns:
        yield f'Done: {returns[0].content}'
    else:
        yield {0: DeltaToolCall(name='delete_file', json_args='{"path": "notes.txt"}', tool_call_id='call_1')}


approval_agent = Agent(FunctionModel(stream_function=approval_model), output_type=[str, DeferredToolRequests])


@approval_agent.tool_plain(requires_approval=True)
def delete_file(path: str) -> str:
    return f'deleted {path}'


async def frontend_model(messages: list[ModelMessage], info: AgentInfo):
    if any(isinstance(p, ToolReturnPart) for p in messages[-1].parts):
        for text in ['Paris is ', 'on your screen.']:
            yield text
    else:
        yield 'Let me show you.'
        yield {0: DeltaToolCall(name='show_map', json_args='{"city":', tool_call_id='call_1')}
        yield {0: DeltaToolCall(json_args=' "Paris"}')}


frontend_agent = Agent(FunctionModel(stream_function=frontend_model))


APPROVED = {
    'id': 'chat-1',
    'trigger': 'submit-message',
    'messages': [
        {'id': 'user-1', 'role': 'user', 'parts': [{'type': 'text', 'text': 'Delete notes.txt'}]},
        {
            'id': 'assistant-1',
            'role': 'assistant',
            'parts': [
                {'type': 'step-start'},
                {
                    'type': 'tool-delete_file',
                    'toolCallId': 'call_1',
                    'state': 'approval-responded',
                    'input': {'path': 'notes.txt'},
                    'approval': {'id': 'call_1', 'approved': True},
                },
            ],
        },
    ],
}


DENIED = json.loads(json.dumps(APPROVED))
DENIED['messages'][1]['parts'][1]['approval'] = {'id': 'call_1', 'approved': False, 'reason': 'Not now.'}


async def capture(agent: Agent, prompt: str, sdk_version: int = 5) -> str:
    run_input = SubmitMessage(
        id='chat-1',
        trigger='submit-message',
        messages=[UIMessage(id='user-1', role='user', parts=[TextUIPart(text=prompt)])],
    )
    return await encode(agent, run_input, sdk_version)


async def encode(agent: Agent, run_input, sdk_version: int) -> str:
    adapter = VercelAIAdapter(agent=agent, run_input=run_input, sdk_version=sdk_version)
    return ''.join([event async for event in adapter.encode_stream(adapter.run_stream())])


async def main():
    here = Path(__file__).parent
    (here / 'vercel_tool.sse').write_text(await capture(tool_agent, 'What is the weather in Paris?'))
    (here / 'vercel_reasoning.sse').write_text(await capture(reasoning_agent, 'Hi!'))
    (here / 'vercel_approval.sse').write_text(await capture(approval_agent, 'Delete notes.txt', 6))
    approved = VercelAIAdapter.build_run_input(json.dumps(APPROVED).encode())
    (here / 'vercel_approval_resumed.sse').write_text(await encode(approval_agent, approved, 6))
    denied = VercelAIAdapter.build_run_input(json.dumps(DENIED).encode())
    (here / 'vercel_approval_denied.sse').write_text(await encode(approval_agent, denied, 6))
    (here / 'vercel_tool_data.sse').write_text(await capture(data_agent, 'What is the weather in Paris?'))
    (here / 'vercel_invalid_args.sse').write_text(await capture(invalid_args_agent, 'Weather?', 6))
    try:
        from pydantic_ai.ui.ag_ui import AGUIAdapter
    except ImportError:
        print('ag-ui-protocol is not installed: the ag_ui_*.sse files are not written')
        return

    async def ag_ui(name: str, agent: Agent, messages: list[dict], include_usage: bool = False, **fields) -> None:
        body = {
            'threadId': 'thread-1',
            'runId': 'run-1',
            'state': {},
            'messages': messages,
            'tools': [],
            'context': [],
            'forwardedProps': {},
            **fields,
        }
        run_input = AGUIAdapter.build_run_input(json.dumps(body).encode())
        adapter = AGUIAdapter(agent=agent, run_input=run_input, include_usage=include_usage)
        events = ''.join([event async for event in adapter.encode_stream(adapter.run_stream())])
        (here / f'ag_ui_{name}.sse').write_text(events)

    await ag_ui('tool', tool_agent, [{'id': 'user-1', 'role': 'user', 'content': 'What is the weather in Paris?'}])
    await ag_ui(
        'tool_usage',
        tool_agent,
        [{'id': 'user-1', 'role': 'user', 'content': 'What is the weather in Paris?'}],
        include_usage=True,
        protocolVersion='1.0',
    )
    await ag_ui('invalid_args', invalid_args_agent, [{'id': 'user-1', 'role': 'user', 'content': 'Weather?'}])

    from ag_ui.core import CustomEvent, EventType, StateSnapshotEvent

    events_agent = Agent(FunctionModel(stream_function=events_model))

    @events_agent.tool_plain
    def update_state() -> ToolReturn:
        return ToolReturn(
            return_value='State updated',
            metadata=[
                StateSnapshotEvent(type=EventType.STATE_SNAPSHOT, snapshot={'document': 'Hello'}),
                CustomEvent(type=EventType.CUSTOM, name='count', value=1),
            ],
        )

    await ag_ui('tool_events', events_agent, [{'id': 'user-1', 'role': 'user', 'content': 'Update it'}])

    show_map = {
        'name': 'show_map',
        'description': 'Show a city on the map.',
        'parameters': {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']},
    }
    asked = {'id': 'user-1', 'role': 'user', 'content': 'Show me Paris'}
    await ag_ui('frontend_tool', frontend_agent, [asked], tools=[show_map], protocolVersion='1.0')
    called = {
        'id': 'assistant-1',
        'role': 'assistant',
        'content': 'Let me show you.',
        'toolCalls': [
            {'id': 'call_1', 'type': 'function', 'function': {'name': 'show_map', 'arguments': '{"city": "Paris"}'}}
        ],
    }
    shown = {'id': 'tool-1', 'role': 'tool', 'toolCallId': 'call_1', 'content': 'The map is shown.'}
    await ag_ui('frontend_tool_resumed', frontend_agent, [asked, called, shown], tools=[show_map], protocolVersion='1.0')

    delete = {'id': 'user-1', 'role': 'user', 'content': 'Delete notes.txt'}
    await ag_ui('approval', approval_agent, [delete])
    delete_call = {
        'id': 'assistant-1',
        'role': 'assistant',
        'toolCalls': [
            {'id': 'call_1', 'type': 'function', 'function': {'name': 'delete_file', 'arguments': '{"path": "notes.txt"}'}}
        ],
    }
    for name, payload in [
        ('approval_approved', {'approved': True}),
        ('approval_denied', {'approved': False, 'reason': 'Keep it.'}),
        ('approval_malformed', {'approved': 'yes'}),
    ]:
        resume = [{'interruptId': 'int-call_1', 'status': 'resolved', 'payload': payload}]
        await ag_ui(name, approval_agent, [delete, delete_call], resume=resume)


asyncio.run(main())
