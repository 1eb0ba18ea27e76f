"""Writes the UI message streams PydanticAI's Vercel adapter produces for two scripted
runs, the golden files verity-ui's tests compare Verity's streams with.

Run with a Python that has pydantic-ai 2.68 installed, from this directory:

    python pydantic_ai_stream.py

Scenarios (the Rust tests script the same model responses):
- `tool`: the model says "Let me check.", calls get_weather({"city": "Paris"}) with its
  arguments streamed in two pieces, the tool returns "sunny", the model answers
  "It is sunny in Paris." in three pieces;
- `reasoning`: the model thinks "The user greets me.", then answers "Hello there!" in two
  pieces.
"""

import asyncio
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaThinkingPart, DeltaToolCall, FunctionModel
from pydantic_ai.ui.vercel_ai import VercelAIAdapter
from pydantic_ai.ui.vercel_ai.request_types import SubmitMessage, TextUIPart, UIMessage


async def tool_model(messages: list[ModelMessage], info: AgentInfo):
    if any(isinstance(p, ToolReturnPart) for p in messages[-1].parts):
        for text in ['It is ', 'sunny in ', 'Paris.']:
            yield text
    else:
        yield 'Let me check.'
        yield {0: DeltaToolCall(name='get_weather', json_args='{"city":', tool_call_id='call_1')}
        yield {0: DeltaToolCall(json_args=' "Paris"}')}


async def reasoning_model(messages: list[ModelMessage], info: AgentInfo):
    yield {0: DeltaThinkingPart(content='The user greets me.')}
    yield 'Hello '
    yield 'there!'


tool_agent = Agent(FunctionModel(stream_function=tool_model))


@tool_agent.tool_plain
def get_weather(city: str) -> str:
    return 'sunny'


reasoning_agent = Agent(FunctionModel(stream_function=reasoning_model))


async def capture(agent: Agent, prompt: str) -> str:
    run_input = SubmitMessage(
        id='chat-1',
        trigger='submit-message',
        messages=[UIMessage(id='user-1', role='user', parts=[TextUIPart(text=prompt)])],
    )
    adapter = VercelAIAdapter(agent=agent, run_input=run_input)
    return ''.join([event async for event in adapter.encode_stream(adapter.run_stream())])


async def main():
    here = Path(__file__).parent
    (here / 'vercel_tool.sse').write_text(await capture(tool_agent, 'What is the weather in Paris?'))
    (here / 'vercel_reasoning.sse').write_text(await capture(reasoning_agent, 'Hi!'))


asyncio.run(main())
