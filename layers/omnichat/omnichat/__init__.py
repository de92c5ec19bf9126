"""OmniChat core: everything the Lambda functions and the local stack share."""

__version__ = "0.1.0"
