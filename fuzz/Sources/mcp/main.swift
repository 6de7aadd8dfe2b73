import FuzzDriver

FuzzDriver.run(.mcp)
