"""Pension qualification certification (养老金领取资格认证): face check with liveness,
the rolling cycle, suspension and back pay."""
