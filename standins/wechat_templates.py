"""The subscribe-message templates the (stand-in) mini-program has chosen in the WeChat
admin console: each template id and the data keys it takes. The stand-in's own copy,
compared with the project's registry in tests/test_notifications.py."""

from __future__ import annotations

SUBSCRIBE_TEMPLATES: dict[str, frozenset[str]] = {
    "wxtpl-cert-done": frozenset({"date2", "thing1"}),
    "wxtpl-cert-due-soon": frozenset({"date2", "thing1"}),
    "wxtpl-cert-overdue": frozenset({"date2", "thing1"}),
}
