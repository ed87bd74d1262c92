"""The command language owners use by SMS and email: ``parser`` reads a message, the service acts on it."""
