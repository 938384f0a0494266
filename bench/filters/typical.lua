-- -*- Lua -*-
-- bench/filters/typical.lua: the typical policy of bench/e2e.sh, the Lua
-- port of integration/testdata/typical.filter:
--  - reject (554 5.7.1) any message whose Subject contains MDLAB-REJECT
--  - drop attachments with dangerous extensions (.exe .bat .scr ...) and
--    add a warning part
--  - append a boilerplate disclaimer to every text/plain part
--  - add an X-Scanned header

AdminAddress = 'postmaster@localhost'
AdminName = "MIMEDefang lab administrator"
DaemonAddress = 'mimedefang@localhost'
AddWarningsInline = false
Stupidity = { NoMultipleInlines = false }

local marker = 'MDLAB-REJECT'
local disclaimer = "--\nDisclaimer: this message passed through the MIMEDefang lab typical filter.\nIt is provided for testing only; attachments with dangerous extensions are removed."

-- Debian's /etc/mail/mimedefang-filter list, as in the Perl filter.
local bad_exts = [[(ade|adp|app|asd|asf|asx|bas|bat|chm|cmd|com|cpl|crt|dll|exe|fxp|hlp|hta|hto|inf|ini|ins|isp|jse?|lib|lnk|mdb|mde|msc|msi|msp|mst|ocx|pcd|pif|prg|reg|scr|sct|sh|shb|shs|sys|url|vb|vbe|vbs|vcs|vxd|wmd|wms|wmz|wsc|wsf|wsh|\{[^\}]+\})]]
local bad_re = [[\.]] .. bad_exts .. [[\.*$]]

local function filter_bad_filename(entity)
    return re_match(entity, bad_re)
end

function filter_begin(entity)
    if Subject ~= nil and string.find(Subject, marker, 1, true) then
        md_syslog('info', "mdlab: rejecting message with marker subject")
        return action_bounce("Message rejected by lab policy: forbidden subject marker", 554, "5.7.1")
    end
end

function filter(entity, fname, ext, type)
    if message_rejected() then return end
    if string.lower(type) == "message/partial" then
        return action_bounce("MIME type message/partial not accepted here")
    end
    if filter_bad_filename(entity) then
        md_syslog('info', "mdlab: dropping attachment " .. fname .. " (" .. type .. ")")
        return action_drop_with_warning("An attachment named " .. fname .. " was removed from this document as it\nconstituted a security hazard.  If you require this document, please contact\nthe sender and arrange an alternate means of receiving it.\n")
    end
    return action_accept()
end

function filter_multipart(entity, fname, ext, type)
    if message_rejected() then return end
    if filter_bad_filename(entity) then
        return action_drop_with_warning("An attachment of type " .. type .. ", named " .. fname .. " was removed from this document as it\nconstituted a security hazard.  If you require this document, please contact\nthe sender and arrange an alternate means of receiving it.\n")
    end
    if string.lower(type) == "message/partial" then
        return action_bounce("MIME type message/partial not accepted here")
    end
    return action_accept()
end

function filter_end(entity)
    if message_rejected() then return end
    append_text_boilerplate(entity, disclaimer, true)
    action_add_header("X-Scanned", "MIMEDefang lab typical filter")
end
