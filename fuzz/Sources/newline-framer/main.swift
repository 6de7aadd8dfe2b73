import FuzzDriver

FuzzDriver.run(.newlineFramer)
