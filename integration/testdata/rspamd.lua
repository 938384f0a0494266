-- rspamd.lua: the rspamd check of a real filter, for
-- integration/rspamd_test.go. The test writes its settings in front of
-- this file: RspamdURL and RspamdTimeout. rspamd's "reject" rejects the
-- message, "soft reject" (also what rspamd_check returns when rspamd
-- cannot be asked) tempfails it, and every message it scored gets
-- X-Spam-Score and X-Spam-Action.

function filter_end(entity)
    local hits, req, tests, report, action, is_spam = rspamd_check()
    md_syslog("info", string.format("rspamd: %s %s/%s %s [%s]", action, hits, req, is_spam, tests))
    if action == "soft reject" then
        action_tempfail("Spam check unavailable, try again later")
        return
    end
    action_change_header("X-Spam-Score", string.format("%.1f/%.1f %s", hits, req, is_spam))
    action_change_header("X-Spam-Action", action)
    if action == "reject" then
        action_bounce("Message rejected as spam")
    end
end
