"""A tiny MCP server (stdio) for the verity CLI's tests, on the `mcp` package."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("calc")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b + 42


if __name__ == "__main__":
    server.run()
