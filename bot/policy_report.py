"""A readable summary of a policy file, for ``jitbot policies check``."""

from __future__ import annotations

from core.durations import format_duration
from core.policy import PolicyFile


def summary(policies: PolicyFile, source: str) -> str:
    s = policies.settings
    lines = [f"{source}: OK", "",
             f"settings: timezone {s.timezone}, audit channel {s.audit_channel or '(none)'}, "
             f"digest {s.digest_time.strftime('%H:%M') if s.digest_time else 'off'}, "
             f"approval timeout {format_duration(s.approval_timeout)}, "
             f"reminders every {format_duration(s.reminder_interval) if s.reminder_interval else 'never'}, "
             f"expiry warning {format_duration(s.expiry_warning) if s.expiry_warning else 'off'}",
             f"identities: {len(policies.identities)}; other accounts: {len(policies.accounts)}", ""]
    for deny in policies.deny:
        who = ", ".join(deny.requesters) if deny.requesters else "everyone"
        lines.append(f"deny '{deny.name}': {deny.targets.describe()} for {who} "
                     f"({'refused' if deny.block == 'all' else 'no auto-approval'})")
    for auto in policies.auto_approval:
        who = ", ".join(auto.requesters) if auto.requesters else "everyone"
        lines.append(f"auto-approval '{auto.name}': {auto.targets.describe()} for {who}, "
                     f"up to {format_duration(auto.max_duration)}")
    for manual in policies.manual_approval:
        who = ", ".join(manual.requesters) if manual.requesters else "everyone"
        lines.append(f"manual approval '{manual.name}': {manual.targets.describe()} for {who}, "
                     f"up to {format_duration(manual.max_duration)} "
                     f"(default {format_duration(manual.duration_default)})")
        for index, level in enumerate(manual.levels, 1):
            lines.append(f"    level {index} '{level.name or f'Level {index}'}': {level.required} of "
                         f"{', '.join(level.approvers)} in {level.channel}")
    if not (policies.deny or policies.auto_approval or policies.manual_approval):
        lines.append("no policies: every request will be refused")
    return "\n".join(lines)
