import FuzzDriver

FuzzDriver.run(.dispatch)
