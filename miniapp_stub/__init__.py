"""The mini-program client stub: drives the API the way the WeChat mini-program does."""
