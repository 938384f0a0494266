-- checkall.lua: md_check_all for integration/checkall_test.go. The test
-- writes its settings in front of this file: ClamdSock, SpamdHost,
-- SpamdPort and RspamdURL. filter_begin runs each check alone, then all
-- three at once with md_check_all, and puts the concurrent call's
-- results and every call's wall time (md_check_all's took, seconds) in
-- headers.

Features["Virus:CLAMD"] = true
md_spamc_init(SpamdHost, SpamdPort)

function filter_begin(entity)
    local v = md_check_all{virus = true}
    local s = md_check_all{spamassassin = true}
    local r = md_check_all{rspamd = RspamdURL}
    local all = md_check_all{virus = true, spamassassin = true, rspamd = RspamdURL}

    action_add_header("X-Check-Virus", all.virus.category .. " " .. all.virus.action .. " " .. all.virus.name)
    action_add_header("X-Check-VirusName", VirusName)
    if all.spamassassin then
        action_add_header("X-Check-Spam", string.format("%.1f/%.1f %s %s", all.spamassassin.hits,
            all.spamassassin.required, tostring(all.spamassassin.is_spam), all.spamassassin.tests))
    else
        action_add_header("X-Check-Spam", "no verdict")
    end
    action_add_header("X-Check-Rspamd", string.format("%s %s", all.rspamd.action, tostring(all.rspamd.is_spam)))
    action_add_header("X-Check-Took", string.format("alone %.3f %.3f %.3f all %.3f (%.3f %.3f %.3f)",
        v.took, s.took, r.took, all.took, all.virus.took, all.spamassassin and all.spamassassin.took or -1, all.rspamd.took))
end
