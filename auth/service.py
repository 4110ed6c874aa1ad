"""Identity use cases, in one place for the HTTP layer and the command line.

The work is split by seam: sessions (tokens, refresh, ending), wechat_login, codes
(SMS codes and app login), real_name, console (agents and admins), service_keys, and
family (亲情服务). Every authentication attempt is audited.
"""

from __future__ import annotations

from auth.codes import issue_code, login_with_code, redeem_code, request_login_code
from auth.console import console_login, create_console_account
from auth.context import AuthContext, LoginResult
from auth.family import family_links, get_link, invite_family, move_family_link
from auth.real_name import REAL_NAME_CODE_SENT, confirm_real_name, request_real_name_code
from auth.service_keys import (
    create_service_key,
    parse_service_key,
    revoke_service_key,
    service_key_matches,
)
from auth.sessions import end_session, live_account, refresh_tokens, sessions_of
from auth.wechat_login import bind_wechat_phone, login_with_wechat

__all__ = [
    "REAL_NAME_CODE_SENT", "AuthContext", "LoginResult", "bind_wechat_phone",
    "confirm_real_name", "console_login", "create_console_account", "create_service_key",
    "end_session", "family_links", "get_link", "invite_family", "issue_code", "live_account",
    "login_with_code", "login_with_wechat", "move_family_link", "parse_service_key",
    "redeem_code", "refresh_tokens", "request_login_code", "request_real_name_code",
    "revoke_service_key", "service_key_matches", "sessions_of",
]
