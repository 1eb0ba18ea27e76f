"""A small MCP server for the verity-mcp tests (stdio), on the `mcp` package."""

import asyncio
import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("verity-test-server", instructions="Use `echo` to echo text.")


@server.tool()
async def echo(text: str, delay: float = 0.0) -> str:
    """Echo the text back, after `delay` seconds."""
    await asyncio.sleep(delay)
    return text


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep for a while."""
    await asyncio.sleep(seconds)
    return "slept"


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def crash() -> str:
    """Exit the server's process at once, mid-call."""
    os._exit(3)


@server.tool()
def fail(message: str) -> str:
    """Fail with this message (a ToolError's message reaches the client)."""
    raise ToolError(message)


@server.tool()
def env(name: str) -> str:
    """An environment variable of the server's process."""
    return os.environ.get(name, "<unset>")


if __name__ == "__main__":
    server.run()
