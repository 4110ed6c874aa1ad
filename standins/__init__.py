"""Local stand-ins that speak the real wire formats of WeChat and Aliyun, for
development and tests."""
