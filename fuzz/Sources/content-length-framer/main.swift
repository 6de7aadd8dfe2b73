import FuzzDriver

FuzzDriver.run(.contentLengthFramer)
