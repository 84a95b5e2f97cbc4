// A document worker hooks module that cannot be loaded: its threads fail while starting.
throw new Error('this hooks module is broken on purpose');
