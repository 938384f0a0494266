-- -*- Lua -*-
--***********************************************************************
--
-- suggested-minimum.lua
--
-- Suggested minimum-protection filter for Microsoft Windows clients: a
-- line-by-line port to md-worker's Lua filter API of MIMEDefang's
-- examples/suggested-minimum-filter-for-windows-clients (Copyright (C)
-- 2002 Roaring Penguin Software Inc., GNU GPL version 2; this port is
-- distributed under the same terms). Load it with
--   md-worker -f /etc/mimedefang/suggested-minimum.lua
-- and check it with
--   md-worker check /etc/mimedefang/suggested-minimum.lua
--
-- The virus scan (filter_begin) and SpamAssassin (filter_end) run once
-- their daemons are configured (Features["Virus:CLAMD"] with ClamdSock,
-- Features["SpamAssassin"] with spamd); rspamd is left commented out, as
-- in the original. See docs/filters.md for the API.
--***********************************************************************

--***********************************************************************
-- Set administrator's e-mail address here.  The administrator receives
-- quarantine messages and is listed as the contact for site-wide
-- MIMEDefang policy.    A good example would be 'defang-admin@mydomain.com'
--***********************************************************************
AdminAddress = 'postmaster@localhost'
AdminName = "MIMEDefang Administrator's Full Name"

--***********************************************************************
-- Set the e-mail address from which MIMEDefang quarantine warnings and
-- user notifications appear to come.    A good example would be
-- 'mimedefang@mydomain.com'.    Make sure to have an alias for this
-- address if you want replies to it to work.
--***********************************************************************
DaemonAddress = 'mimedefang@localhost'

--***********************************************************************
-- If you set AddWarningsInline to true, then MIMEDefang tries *very* hard
-- to add warnings directly in the message body (text or html) rather
-- than adding a separate "warning<N>.txt" MIME part.  If the message
-- has no text or html part, then a separate MIME part is still used.
--***********************************************************************
AddWarningsInline = false

--***********************************************************************
-- To enable syslogging of virus and spam activity, add the following
-- to the filter:
-- md_graphdefang_log_enable()
-- You may optionally provide a syslogging facility by passing an
-- argument such as:  md_graphdefang_log_enable('local4')  If you do this, be
-- sure to setup the new syslog facility.
-- An optional second argument causes a line of output to be produced
-- for each recipient (if it is 1), or only a single summary line
-- for all recipients (if it is 0.)  The default is 1.
-- Comment this line out to disable logging.
--***********************************************************************
md_graphdefang_log_enable('mail', 1)

--***********************************************************************
-- Uncomment this to block messages with more than 50 parts.
--***********************************************************************
-- MaxMIMEParts = 50

--***********************************************************************
-- Set various stupid things your mail client does below.
--***********************************************************************

-- Set the next one if your mail client cannot handle multiple "inline"
-- parts.
Stupidity = { NoMultipleInlines = false }

-- detect_and_load_perl_modules() has no Lua equivalent: md-worker's
-- features are built in and listed in the Features table.

-- Bad extensions (an RE2 regular expression, matched case-insensitively)
local bad_exts = [[(ade|adp|app|asd|asf|asx|bas|bat|chm|cmd|com|cpl|crt|dll|exe|fxp|hlp|hta|hto|inf|ini|ins|isp|jse?|lib|lnk|mdb|mde|msc|msi|msp|mst|ocx|pcd|pif|prg|reg|scr|sct|sh|shb|shs|sys|url|vb|vbe|vbs|vcs|vxd|wmd|wms|wmz|wsc|wsf|wsh|\{[^\}]+\})]]

-- Do not allow:
-- - CLSIDs  {foobarbaz}
-- - bad extensions (possibly with trailing dots) at end
local bad_filename_re = [[\.]] .. bad_exts .. [[\.*$]]

-- This procedure returns true for entities with bad filenames.
function filter_bad_filename(entity)
    if re_match(entity, bad_filename_re) then
        return true
    end

    -- Look inside ZIP files (md-worker reads zip directories itself, so
    -- Features["Archive::Zip"] is always true)
    if re_match(entity, [[\.zip$]]) and Features["Archive::Zip"] then
        local path = entity:path()
        if path ~= nil then
            return re_match_in_zip_directory(path, bad_filename_re)
        end
    end
    return false
end

--***********************************************************************
-- %PROCEDURE: filter_begin
-- %ARGUMENTS:
--  entity -- the parsed message
-- %RETURNS:
--  Nothing
-- %DESCRIPTION:
--  Called just before e-mail parts are processed
--***********************************************************************
function filter_begin(entity)
    -- ALWAYS drop messages with suspicious chars in headers
    if SuspiciousCharsInHeaders then
        md_graphdefang_log('suspicious_chars')
        action_quarantine_entire_message("Message quarantined because of suspicious characters in headers")
        -- Do NOT allow message to reach recipient(s)
        return action_discard()
    end

    -- Virus scanning, as the original: message_contains_virus() runs the
    -- scanners %Features turns on (Features["Virus:CLAMD"] = true with
    -- ClamdSock = "/path/to/clamd.sock" or "host:port", Virus:CLAMDSCAN,
    -- Virus:CLAMAV; see docs/integrations.md). With none on it answers
    -- ok at once, and the copy of the message for the scanners is skipped.
    if Features["Virus:CLAMD"] or Features["Virus:CLAMDSCAN"] or Features["Virus:CLAMAV"] then
        -- Copy original message into work directory as an "mbox" file for
        -- virus-scanning
        md_copy_orig_msg_to_work_dir_as_mbox_file()
    end

    -- Scan for viruses if any virus-scanners are installed
    local code, category, action = message_contains_virus()

    -- Lower level of paranoia - only looks for actual viruses
    FoundVirus = (category == "virus")

    -- Higher level of paranoia - takes care of "suspicious" objects
    -- FoundVirus = (action == "quarantine")

    if FoundVirus then
        md_graphdefang_log('virus', VirusName, RelayAddr)
        md_syslog('warning', "Discarding because of virus " .. VirusName)
        return action_discard()
    end

    if action == "tempfail" then
        action_tempfail("Problem running virus-scanner")
        md_syslog('warning', "Problem running virus scanner: code=" .. code ..
            ", category=" .. category .. ", action=" .. action)
    end
end

--***********************************************************************
-- %PROCEDURE: filter
-- %ARGUMENTS:
--  entity -- the part (see entity methods in docs/filters.md)
--  fname -- the suggested filename, taken from the MIME Content-Disposition:
--                       header.  If no filename was suggested, then fname is ""
--  ext -- the file extension (everything from the last period in the name
--                   to the end of the name, including the period.)
--  type -- the MIME type, taken from the Content-Type: header.
--
--  NOTE: There are two places for a filename to appear in a MIME
--  message: Content-Disposition: filename and Content-Type: name.
--  re_match and re_match_ext return true if ANY of these match.
--  re_match checks the whole name; re_match_ext checks the extension.
-- %RETURNS:
--  Nothing
-- %DESCRIPTION:
--  This function is called once for each part of a MIME message.
--  There are many action_*() routines which can decide the fate
--  of each part; see docs/filters.md.
--***********************************************************************
function filter(entity, fname, ext, type)
    if message_rejected() then return end -- Avoid unnecessary work

    -- Block message/partial parts
    if string.lower(type) == "message/partial" then
        md_graphdefang_log('message/partial')
        return action_bounce("MIME type message/partial not accepted here")
    end

    if filter_bad_filename(entity) then
        md_graphdefang_log('bad_filename', fname, type)
        return action_drop_with_warning("An attachment named " .. fname .. " was removed from this document as it\nconstituted a security hazard.    If you require this document, please contact\nthe sender and arrange an alternate means of receiving it.\n")
    end

    return action_accept()
end

--***********************************************************************
-- %PROCEDURE: filter_multipart
-- %ARGUMENTS:
--  entity, fname, ext, type -- as for filter
-- %RETURNS:
--  Nothing
-- %DESCRIPTION:
--  This is called for multipart "container" parts such as message/rfc822.
--  You cannot replace the body (because multipart parts have no body),
--  but you should check for bad filenames.
--***********************************************************************
function filter_multipart(entity, fname, ext, type)
    if message_rejected() then return end -- Avoid unnecessary work

    if filter_bad_filename(entity) then
        md_graphdefang_log('bad_filename', fname, type)
        action_notify_administrator("A MULTIPART attachment of type " .. type .. ", named " .. fname .. " was dropped.\n")
        return action_drop_with_warning("An attachment of type " .. type .. ", named " .. fname .. " was removed from this document as it\nconstituted a security hazard.  If you require this document, please contact\nthe sender and arrange an alternate means of receiving it.\n")
    end

    -- Block message/partial parts
    if string.lower(type) == "message/partial" then
        md_graphdefang_log('message/partial')
        return action_bounce("MIME type message/partial not accepted here")
    end

    return action_accept()
end


--***********************************************************************
-- %PROCEDURE: defang_warning
-- %ARGUMENTS:
--  oldfname -- the old file name of an attachment
--  fname -- the new "defanged" name
-- %RETURNS:
--  A warning message
-- %DESCRIPTION:
--  This function customizes the warning message when an attachment
--  is defanged.
--***********************************************************************
function defang_warning(oldfname, fname)
    return "An attachment named '" .. oldfname .. "' was converted to '" .. fname .. "'.\n" ..
        "To recover the file, right-click on the attachment and Save As\n" ..
        "'" .. oldfname .. "'\n"
end

-- If SpamAssassin found SPAM, append report.    We do it as a separate
-- attachment of type text/plain
function filter_end(entity)
    -- If you want quarantine reports, uncomment next line
    -- send_quarantine_notifications()

    -- IMPORTANT NOTE:  YOU MUST CALL send_quarantine_notifications() AFTER
    -- ANY PARTS HAVE BEEN QUARANTINED.  SO IF YOU MODIFY THIS FILTER TO
    -- QUARANTINE SPAM, REWORK THE LOGIC TO CALL send_quarantine_notifications()
    -- AT THE END!!!

    -- No sense doing any extra work
    if message_rejected() then return end

    -- SpamAssassin, through spamd (md_spamc_init, default localhost:783):
    -- turn it on with Features["SpamAssassin"] = true once spamd runs (see
    -- docs/integrations.md).
    if Features["SpamAssassin"] then
        -- Perl's (-s "./INPUTMSG" < 512*1024)
        if md_message_size() < 512*1024 then
            -- Only scan messages smaller than 512KB. Larger messages are
            -- unlikely to be spam and SpamAssassin is slow on very large messages.
            local hits, req, names, report = spam_assassin_check()
            -- spamd could not be asked (logged): the message is not
            -- scored, as with the original, which would tag it.
            if hits ~= nil then
                local score
                if hits < 40 then
                    score = string.rep("*", math.floor(hits))
                else
                    score = string.rep("*", 40)
                end
                -- We add a header which looks like this:
                -- X-Spam-Score: 6.8 (******) NAME_OF_TEST,NAME_OF_TEST
                -- The number of asterisks in parens is the integer part
                -- of the spam score clamped to a maximum of 40.
                -- MUA filters can easily be written to trigger on a
                -- minimum number of asterisks...
                if hits >= req then
                    action_change_header("X-Spam-Score", hits .. " (" .. score .. ") " .. names)
                    md_graphdefang_log('spam', hits, RelayAddr)

                    -- If you find the SA report useful, add it, I guess...
                    action_add_part(entity, "text/plain", "-suggest",
                                    report .. "\n", "SpamAssassinReport.txt", "inline")
                else
                    -- Delete any existing X-Spam-Score header?
                    action_delete_header("X-Spam-Score")
                end
            end
        end
    end

    -- -- Check email messages with Rspamd (RspamdURL, see docs/integrations.md)
    --
    -- if md_message_size() < 512*1024 then
    --     local hits, req, names, report, action, is_spam = rspamd_check()
    --     md_syslog("Warning", "Action: " .. action .. ", Spam: " .. is_spam .. ", Names: " .. names)
    --     if is_spam == "true" then
    --         action_change_header("X-Spam-Score", hits .. "/" .. req .. " " .. names)
    --         md_syslog("Warning", "Action: " .. action)
    --         md_graphdefang_log('spam', hits, RelayAddr)
    --     else
    --         -- Delete any existing X-Spam-Score header?
    --         action_delete_header("X-Spam-Score")
    --     end
    -- end

    -- I HATE HTML MAIL!  If there's a multipart/alternative with both
    -- text/plain and text/html parts, nuke the text/html.  Thanks for
    -- wasting our disk space and bandwidth...

    -- If you want to strip out HTML parts if there is a corresponding
    -- plain-text part, uncomment the next line.
    -- remove_redundant_html_parts(entity)

    md_graphdefang_log('mail_in')

    -- Deal with malformed MIME.
    -- Some viruses produce malformed MIME messages that are misinterpreted
    -- by mail clients.  They also might slip under the radar of MIMEDefang.
    -- If you are worried about this, you should canonicalize all
    -- e-mail by uncommenting the action_rebuild() line.  This will
    -- force _all_ messages to be reconstructed as valid MIME.  It will
    -- increase the load on your server, and might break messages produced
    -- by marginal software.  Your call.

    -- action_rebuild()
end
