-- Conformance filter: the md-worker side of integration/conformance. It is
-- conformance.filter (the Perl reference) ported line by line to the Lua
-- filter API; keep the two in step.
--
-- Every message takes a path chosen by the message itself: attachment names
-- and types drive the part dispositions, words in the Subject drive the
-- message-level actions. Every part callback records what it saw in an
-- X-Conformance-Parts header, so the part walk itself is compared too.

AdminAddress = "postmaster@example.com"
AdminName = "Conformance Admin"
DaemonAddress = "mimedefang@example.com"
DaemonName = "Conformance Daemon"
AddWarningsInline = false

-- Per-message state, reset in filter_begin.
ConfPartIndex = 0

local function subject_has(word)
  return string.find(Subject or "", word, 1, true) ~= nil
end

-- Perl's truth: 0, "" and nil are false.
local function bool(v)
  if v == nil or v == false or v == 0 or v == "" or v == "0" then
    return 0
  end
  return 1
end

function filter_begin(entity)
  ConfPartIndex = 0
  AddWarningsInline = subject_has("INLINE-WARN")

  action_add_header("X-Conformance-Env",
    string.format("sender=%s rcpts=%s subjects=%d relay=%s host=%s helo=%s qid=%s multipart=%d",
      Sender, table.concat(Recipients, ","), SubjectCount, RelayAddr,
      RelayHostname, Helo, QueueID, bool(WasMultiPart)))
  action_insert_header("X-Conformance-First", "inserted", 0)

  if subject_has("TEMPFAIL-ME") then
    action_tempfail("Conformance tempfail", 451, "4.3.2")
  end
  if subject_has("CHANGE-SUBJECT") then
    action_change_header("Subject", "[changed] " .. Subject)
  end
  local n = entity:head_count("X-Delete-Me")
  if n > 0 then
    action_delete_header("X-Delete-Me", n)
    action_delete_header("X-Delete-Me")
  end
  if subject_has("ADD-RCPT") then
    add_recipient("<added@example.com>")
  end
  if subject_has("DEL-RCPT") then
    delete_recipient(Recipients[1])
  end
  if subject_has("REBUILD") then
    action_rebuild()
  end
end

function filter(entity, fname, ext, type)
  ConfPartIndex = ConfPartIndex + 1
  action_add_header("X-Conformance-Parts",
    string.format('%d leaf %s "%s" "%s"', ConfPartIndex, type, fname, ext))

  if subject_has("DISCARD-ME") and ConfPartIndex == 1 then
    action_discard()
  end
  if type == "application/x-drop" then
    return action_drop()
  end
  if re_match(entity, [[\.(exe|com|bat|scr|pif|vbs)$]]) then
    return action_drop_with_warning("Removed dangerous attachment " .. fname)
  end
  if re_match(entity, [[\.replace$]]) then
    return action_replace_with_warning("Replaced attachment " .. fname)
  end
  if re_match_ext(entity, [[^\.warn$]]) then
    return action_accept_with_warning("Please be careful with " .. fname)
  end
  if type == "application/zip" or string.lower(ext) == ".zip" then
    local path = entity:path()
    if re_match_in_zip_directory(path, [[\.exe$]]) then
      return action_drop_with_warning("Archive " .. fname .. " contains an executable")
    end
  end
  return action_accept()
end

function filter_multipart(entity, fname, ext, type)
  ConfPartIndex = ConfPartIndex + 1
  action_add_header("X-Conformance-Parts",
    string.format('%d container %s "%s" "%s"', ConfPartIndex, type, fname, ext))

  if type == "multipart/alternative" and subject_has("DROP-ALTERNATIVE") then
    return action_drop_with_warning("Removed an alternative subtree")
  end
  return action_accept()
end

function filter_end(entity)
  action_add_header("X-Conformance", "parts=" .. ConfPartIndex)

  if subject_has("BOILERPLATE") then
    local all = subject_has("BOILERPLATE-ALL")
    local t = append_text_boilerplate(entity, "-- \nConformance text boilerplate", all)
    local h = append_html_boilerplate(entity, "<p>Conformance HTML boilerplate</p>", all)
    action_add_header("X-Conformance-Boilerplate",
      string.format("text=%d html=%d", bool(t), bool(h)))
  end
  if subject_has("NO-HTML") then
    local r = remove_redundant_html_parts(entity)
    action_add_header("X-Conformance-No-HTML", string.format("removed=%d", bool(r)))
  end
  if subject_has("ADD-PART") then
    action_add_part(entity, "text/plain", "-suggest",
      "Part added by the conformance filter.\n", "added.txt", "attachment")
  end
  if subject_has("BOUNCE-ME") then
    action_bounce("Conformance bounce", 550, "5.7.0")
  end
  action_add_header("X-Conformance-Rejected", string.format("%d", bool(message_rejected())))
end
