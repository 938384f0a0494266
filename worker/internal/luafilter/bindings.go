package luafilter

import (
	"sort"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/filter/dnscheck"
	"github.com/mdgo/md/worker/message"
)

// A binding is one Lua function of the filter API. It runs with f.cur set
// to the Context of the running callback (nil at file scope).
type binding func(f *Filter, L *lua.LState) int

// bindings maps every Lua name of the filter API to its implementation.
// The groups follow docs/reference/filter-api.md §4 (each group's comment
// names its section there).
// Adding a function of package filter is one line here, using the adapters
// below for its Go signature. Predicates and success flags return Lua
// booleans where Perl returns 1/0, because 0 is true in Lua: a ported
// "if re_match(...) then" must not always succeed.
var bindings = map[string]binding{
	// Part dispositions (docs/reference/filter-api.md §4.1).
	"action_accept":               partAction("accept", ctxBool((*filter.Context).ActionAccept)),
	"action_accept_with_warning":  changes(partAction("accept", ctxBoolS((*filter.Context).ActionAcceptWithWarning))),
	"action_drop":                 changes(partAction("drop", ctxBool((*filter.Context).ActionDrop))),
	"action_drop_with_warning":    changes(partAction("drop", ctxBoolS((*filter.Context).ActionDropWithWarning))),
	"action_replace_with_warning": changes(partAction("replace", ctxBoolS((*filter.Context).ActionReplaceWithWarning))),
	"action_replace_with_url":     changes(partAction("replace", bindReplaceWithURL)),
	"action_defang":               changes(partAction("accept", ctxBoolPSSS((*filter.Context).ActionDefang))),
	"action_external_filter":      changes(ctxBoolPS((*filter.Context).ActionExternalFilter)),

	// Whole-message dispositions (§4.2).
	"action_bounce":                ctxBoolOptSSS((*filter.Context).ActionBounce),
	"action_tempfail":              ctxBoolOptSSS((*filter.Context).ActionTempfail),
	"action_discard":               ctxBool((*filter.Context).ActionDiscard),
	"message_rejected":             ctxBool((*filter.Context).MessageRejected),
	"md_message_size":              ctxInt((*filter.Context).MessageSize), // md-worker: Perl's -s "./INPUTMSG"
	"detect_and_load_perl_modules": bindDetectAndLoadPerlModules,

	// Header edits (§4.4).
	"action_add_header":             ctxBoolSS((*filter.Context).ActionAddHeader),
	"action_insert_header":          ctxBoolSSI((*filter.Context).ActionInsertHeader, 0),
	"action_change_header":          ctxBoolSSI((*filter.Context).ActionChangeHeader, 1),
	"action_delete_header":          ctxBoolSI((*filter.Context).ActionDeleteHeader, 1),
	"action_delete_all_headers":     ctxBoolS((*filter.Context).ActionDeleteAllHeaders),
	"action_add_header_now":         ctxBoolSS((*filter.Context).ActionAddHeaderNow),
	"action_insert_header_now":      ctxBoolSSI((*filter.Context).ActionInsertHeaderNow, 0),
	"action_change_header_now":      ctxBoolSSI((*filter.Context).ActionChangeHeaderNow, 1),
	"action_delete_header_now":      ctxBoolSI((*filter.Context).ActionDeleteHeaderNow, 1),
	"action_delete_all_headers_now": ctxBoolS((*filter.Context).ActionDeleteAllHeadersNow),

	// Envelope edits (§4.5).
	"add_recipient":    ctxBoolS((*filter.Context).AddRecipient),
	"delete_recipient": ctxBoolS((*filter.Context).DeleteRecipient),
	"change_sender":    ctxBoolS((*filter.Context).ChangeSender),

	// Body and structure (§4.6).
	"action_rebuild":              ctxBool((*filter.Context).ActionRebuild),
	"action_add_part":             bindAddPart,
	"action_add_entity":           bindAddEntity,
	"replace_entire_message":      ctxBoolP((*filter.Context).ReplaceEntireMessage),
	"append_text_boilerplate":     changes(ctxBoolPSB((*filter.Context).AppendTextBoilerplate)),
	"append_html_boilerplate":     changes(ctxBoolPSB((*filter.Context).AppendHTMLBoilerplate)),
	"append_to_part":              changes(ctxBoolPS((*filter.Context).AppendToPart)),
	"append_to_html_part":         changes(ctxBoolPS((*filter.Context).AppendToHTMLPart)),
	"remove_redundant_html_parts": changes(ctxBoolP((*filter.Context).RemoveRedundantHTMLParts)),
	"find_part":                   bindFindPart,
	"collect_parts":               bindCollectParts,
	"takeStabAtFilename":          bindTakeStab,

	// Quarantine (§4.3).
	"get_quarantine_dir":               ctxString((*filter.Context).GetQuarantineDir),
	"action_quarantine":                syncs(changes(partAction("drop", ctxBoolPS((*filter.Context).ActionQuarantine)))),
	"action_quarantine_entire_message": syncs(ctxBoolOptS((*filter.Context).ActionQuarantineEntireMessage)),
	"action_sm_quarantine":             ctxBoolS((*filter.Context).ActionSMQuarantine),
	"send_quarantine_notifications":    ctxBool((*filter.Context).SendQuarantineNotifications),

	// Notifications and outbound mail (§4.7).
	"action_notify_sender":        ctxBoolS((*filter.Context).ActionNotifySender),
	"action_notify_administrator": ctxBoolS((*filter.Context).ActionNotifyAdministrator),
	"send_mail":                   bindSendMail,
	"send_admin_mail":             bindSendAdminMail,

	// Re-sending and streaming (§4.8).
	"resend_message":                 bindResendMessage,
	"resend_message_one_recipient":   ctxBoolSOptS((*filter.Context).ResendMessageOneRecipient),
	"resend_message_specifying_mode": bindResendSpecifyingMode,
	"stream_by_domain":               syncs(ctxBool((*filter.Context).StreamByDomain)),
	"stream_by_recipient":            syncs(ctxBool((*filter.Context).StreamByRecipient)),

	// Network integrations (docs/integrations.md): one line each, a
	// Context method that delegates to the integration's package under
	// worker/filter/, with a ctxValues adapter that returns the Perl list.
	"md_check_against_smtp_server": ctxValuesSSSSI((*filter.Context).MdCheckAgainstSMTPServer, 25), // §4.12, filter/smtpcheck

	// Anti-virus (§4.15), filter/clamd and filter/virus.go. Each returns
	// (code, category, action) and syncs VirusName,
	// VirusScannerMessages and CurrentVirusScannerMessage.
	"message_contains_virus_clamd":      virus(ctxValuesOptS((*filter.Context).MessageContainsVirusClamd)),
	"entity_contains_virus_clamd":       virus(ctxValuesPOptS((*filter.Context).EntityContainsVirusClamd)),
	"message_contains_virus_clamdscan":  virus(ctxValues((*filter.Context).MessageContainsVirusClamdscan)),
	"entity_contains_virus_clamdscan":   virus(ctxValuesP((*filter.Context).EntityContainsVirusClamdscan)),
	"message_contains_virus_clamav":     virus(ctxValues((*filter.Context).MessageContainsVirusClamav)),
	"entity_contains_virus_clamav":      virus(ctxValuesP((*filter.Context).EntityContainsVirusClamav)),
	"interpret_clamav_code":             virus(ctxValuesI((*filter.Context).InterpretClamavCode)),
	"run_virus_scanner":                 virus(bindRunVirusScanner),
	"message_contains_virus":            virus(ctxValues((*filter.Context).MessageContainsVirus)),
	"entity_contains_virus":             virus(ctxValuesP((*filter.Context).EntityContainsVirus)),
	"initialize_virus_scanner_routines": ctxNone((*filter.Context).InitializeVirusScannerRoutines),

	// Anti-spam (§4.14), filter/spamd, filter/rspamd and
	// filter/antispam.go. The SpamAssassin functions ask spamd; a failure
	// returns the original's empty list (nil for spam_assassin_is_spam),
	// rspamd_check's its "soft reject" list.
	"spam_assassin_check":   ctxValuesOptS((*filter.Context).SpamAssassinCheck),
	"spam_assassin_is_spam": ctxValuesOptS((*filter.Context).SpamAssassinIsSpam),
	"spam_assassin_status":  bindSpamAssassinStatus,
	"spam_assassin_init":    bindSpamAssassinInit,
	"spam_assassin_mail":    bindSpamAssassinMail,
	"md_spamc_init":         bindMdSpamcInit,
	"md_spamc_check":        bindMdSpamcCheck,
	"rspamd_check":          ctxValuesOptS((*filter.Context).RspamdCheck),

	// md-worker: the virus scan, spamd and rspamd concurrently
	// (filter.Context.CheckAll; checkall.go).
	"md_check_all": virus(bindCheckAll),

	// The DNS functions (dns.go, worker/filter/dnscheck), §4.11.
	"relay_is_blacklisted":             bindRelayIsBlacklisted,
	"email_is_blacklisted":             bindEmailIsBlacklisted,
	"relay_is_blacklisted_multi":       bindRelayIsBlacklistedMulti,
	"relay_is_blacklisted_multi_count": bindRelayIsBlacklistedMultiCount,
	"relay_is_blacklisted_multi_list":  bindRelayIsBlacklistedMultiList,
	"get_mx_ip_addresses":              bindGetMXIPAddresses,
	"md_get_bogus_mx_hosts":            bindMdGetBogusMXHosts,
	"get_ptr_record":                   bindGetPTRRecord,
	"md_get_dmarc_record":              bindMdGetDMARCRecord,
	"md_dns_txt":                       bindMdDNSTxt,
	"md_spf_verify":                    bindMdSPFVerify,
	"md_dkim_sign":                     bindMdDKIMSign,
	"md_dkim_verify":                   bindMdDKIMVerify,
	"md_arc_sign":                      bindMdARCSign,
	"md_org_domain":                    bindMdOrgDomain,
	"md_bimi_get_selector":             bindMdBIMIGetSelector,
	"md_bimi_lookup":                   bindMdBIMILookup,
	"md_bimi_verify":                   bindMdBIMIVerify,
	"md_authres":                       bindMdAuthres,
	"md_check_mta_sts":                 bindMdCheckMTASTS,
	"add_ip_validation_header":         ctxBool((*filter.Context).AddIPValidationHeader),
	"delete_ip_validation_header":      ctxBool((*filter.Context).DeleteIPValidationHeader),
	"md_verify_sts_mx":                 bindMdVerifySTSMX,
	"md_check_dane_tlsa":               bindMdCheckDANETLSA,
	"md_verify_dane_cert":              bindMdVerifyDANECert,
	"reverse_ip_address_for_rbl":       pureStringS(dnscheck.ReverseIPAddressForRBL),
	"expand_ipv6_address":              pureStringS(dnscheck.ExpandIPv6Address),
	"is_public_ip4_address":            pureBoolS(dnscheck.IsPublicIP4Address),
	"is_public_ip6_address":            pureBoolS(dnscheck.IsPublicIP6Address),

	// Filename and archive matching (§4.9).
	"re_match":                  partMatch(filter.ReMatch),
	"re_match_ext":              partMatch(filter.ReMatchExt),
	"re_match_in_zip_directory": pathMatch(filter.ReMatchInZipDirectory),
	"re_match_in_tar_directory": pathMatch(filter.ReMatchInTarDirectory),
	"re_match_in_tgz_directory": pathMatch(filter.ReMatchInTarDirectory), // the Perl name

	// Logging (§4.10).
	"md_syslog":                 bindSyslog,
	"md_graphdefang_log_enable": bindGraphdefangLogEnable,
	"md_graphdefang_log":        bindGraphdefangLog,
	"md_graphdefang_log_array":  bindGraphdefangLogArray,

	// Envelope access and utilities (§4.11).
	"read_commands_file":                        bindReadCommandsFile,
	"md_version":                                pureString(filter.MdVersion),
	"md_copy_orig_msg_to_work_dir":              ctxBool((*filter.Context).MdCopyOrigMsgToWorkDir),
	"md_copy_orig_msg_to_work_dir_as_mbox_file": ctxBool((*filter.Context).MdCopyOrigMsgToWorkDirAsMboxFile),
	"synthesize_received_header":                ctxString((*filter.Context).SynthesizeReceivedHeader),
	"gen_msgid_header":                          anyCtxString((*filter.Context).GenMsgidHeader),
	"gen_date_msgid_headers":                    bindGenDateMsgidHeaders,
	"rfc2822_date":                              pureString(filter.RFC2822Date),
	"header_timezone":                           bindHeaderTimezone,
	"get_host_name":                             anyCtxString((*filter.Context).GetHostName),
	"time_str":                                  pureString(filter.TimeStr),
	"hour_str":                                  pureString(filter.HourStr),
	"copy_or_link":                              bindCopyOrLink,
	"percent_encode":                            pureStringS(filter.PercentEncode),
	"percent_decode":                            pureStringS(filter.PercentDecode),
}

// installBindings registers every binding as a global function.
func (f *Filter) installBindings() {
	names := make([]string, 0, len(bindings))
	for name, b := range bindings {
		b := b
		f.L.SetGlobal(name, f.L.NewFunction(func(L *lua.LState) int { return b(f, L) }))
		names = append(names, name)
	}
	sort.Strings(names)
	f.bound = names
}

// context returns the Context of the running callback; at file scope it
// raises a Lua error naming the function.
func (f *Filter) context(L *lua.LState) *filter.Context {
	if f.cur == nil {
		L.RaiseError("%s can only be called from a callback, not at file scope", currentName(L))
	}
	return f.cur
}

// currentName is the name the running Go function was called by, for
// messages.
func currentName(L *lua.LState) string {
	if dbg, ok := L.GetStack(0); ok {
		if _, err := L.GetInfo("n", dbg, lua.LNil); err == nil && dbg.Name != "" {
			return dbg.Name
		}
	}
	return "this function"
}

// Adapters from a Context method's Go signature to a binding. Their names
// spell the result (Bool, String, or Values: the Perl list of an
// integration's result) and the arguments after the Context: S string, I
// integer (with a default when the Lua argument is absent), B Perl-truth
// boolean, P an entity; Opt means every string argument may be omitted.

func ctxBool(m func(*filter.Context) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		L.Push(lua.LBool(m(f.context(L))))
		return 1
	}
}

func ctxBoolS(m func(*filter.Context, string) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, checkText(L, 1))))
		return 1
	}
}

func ctxBoolSS(m func(*filter.Context, string, string) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, checkText(L, 1), checkText(L, 2))))
		return 1
	}
}

func ctxBoolSI(m func(*filter.Context, string, int) bool, def int) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, checkText(L, 1), optInt(L, 2, def))))
		return 1
	}
}

func ctxBoolSSI(m func(*filter.Context, string, string, int) bool, def int) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, checkText(L, 1), checkText(L, 2), optInt(L, 3, def))))
		return 1
	}
}

func ctxBoolOptSSS(m func(*filter.Context, string, string, string) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, optText(L, 1), optText(L, 2), optText(L, 3))))
		return 1
	}
}

func ctxBoolP(m func(*filter.Context, *message.Part) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, f.checkPart(L, 1))))
		return 1
	}
}

func ctxBoolPS(m func(*filter.Context, *message.Part, string) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, f.checkPart(L, 1), checkText(L, 2))))
		return 1
	}
}

func ctxBoolPSB(m func(*filter.Context, *message.Part, string, bool) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, f.checkPart(L, 1), checkText(L, 2), perlTrue(L.Get(3)))))
		return 1
	}
}

func ctxBoolPSSS(m func(*filter.Context, *message.Part, string, string, string) bool) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		L.Push(lua.LBool(m(c, f.checkPart(L, 1), optText(L, 2), optText(L, 3), optText(L, 4))))
		return 1
	}
}

// perlList is the result of an integration's function: Values is the list
// its Perl original returns, in order, each a string, int, float64, bool
// or nil (undef).
type perlList interface{ Values() []any }

func ctxValuesSSSSI[R perlList](m func(*filter.Context, string, string, string, string, int) R, def int) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		return pushValues(L, m(c, checkText(L, 1), checkText(L, 2), checkText(L, 3), checkText(L, 4), optInt(L, 5, def)).Values())
	}
}

func ctxValues[R perlList](m func(*filter.Context) R) binding {
	return func(f *Filter, L *lua.LState) int {
		return pushValues(L, m(f.context(L)).Values())
	}
}

func ctxValuesOptS[R perlList](m func(*filter.Context, string) R) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		return pushValues(L, m(c, optText(L, 1)).Values())
	}
}

func ctxValuesI[R perlList](m func(*filter.Context, int) R) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		return pushValues(L, m(c, checkInt(L, 1)).Values())
	}
}

func ctxValuesP[R perlList](m func(*filter.Context, *message.Part) R) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		return pushValues(L, m(c, f.checkPart(L, 1)).Values())
	}
}

func ctxValuesPOptS[R perlList](m func(*filter.Context, *message.Part, string) R) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		return pushValues(L, m(c, f.checkPart(L, 1), optText(L, 2)).Values())
	}
}

// ctxInt is a function that returns a number.
func ctxInt(m func(*filter.Context) int) binding {
	return func(f *Filter, L *lua.LState) int {
		L.Push(lua.LNumber(m(f.context(L))))
		return 1
	}
}

// ctxNone is a function that returns nothing.
func ctxNone(m func(*filter.Context)) binding {
	return func(f *Filter, L *lua.LState) int {
		m(f.context(L))
		return 0
	}
}

// virus wraps a virus-scanner function: the Context gets the filter's
// VirusName, VirusScannerMessages and CurrentVirusScannerMessage before
// the call, and the globals get the Context's after it, as the Perl
// functions read and set the variables.
func virus(b binding) binding {
	return func(f *Filter, L *lua.LState) int {
		c := f.context(L)
		f.readVirusGlobals(c)
		n := b(f, L)
		f.writeVirusGlobals(c)
		return n
	}
}

// bindRunVirusScanner is run_virus_scanner(cmd [, match]): cmd is the
// program and its arguments as an array (RunVirusScanner), or a command
// line split at blanks without a shell (RunVirusScannerCommand).
func bindRunVirusScanner(f *Filter, L *lua.LState) int {
	c := f.context(L)
	var argv []string
	switch v := L.Get(1).(type) {
	case *lua.LTable:
		for i := 1; i <= v.Len(); i++ {
			argv = append(argv, toText(v.RawGetInt(i)))
		}
	default:
		return pushValues(L, c.RunVirusScannerCommand(checkText(L, 1), optText(L, 2)).Values())
	}
	return pushValues(L, c.RunVirusScanner(argv, optText(L, 2)).Values())
}

// pushValues pushes a Perl list as the function's Lua results: strings
// stay strings (an SMTP code "550" too, as in Perl), numbers become Lua
// numbers, booleans booleans, nil nil.
func pushValues(L *lua.LState, vals []any) int {
	for _, v := range vals {
		switch v := v.(type) {
		case string:
			L.Push(lua.LString(v))
		case int:
			L.Push(lua.LNumber(v))
		case float64:
			L.Push(lua.LNumber(v))
		case bool:
			L.Push(lua.LBool(v))
		case nil:
			L.Push(lua.LNil)
		default:
			// A programming error of the integration: the request fails
			// (and the message is tempfailed), the worker lives on.
			L.RaiseError("%s returned a %T, which has no Lua value", currentName(L), v)
		}
	}
	return len(vals)
}

// partAction wraps a part disposition so that the Action global follows
// it, as $Action does in Perl.
func partAction(action string, b binding) binding {
	return func(f *Filter, L *lua.LState) int {
		n := b(f, L)
		if ok, _ := L.Get(-1).(lua.LBool); ok {
			L.SetGlobal("Action", lua.LString(action))
		}
		return n
	}
}

// changes wraps a binding that changes the body, so that the Changed
// global follows $Changed (package filter keeps the real flag; a Lua
// filter only reads it).
func changes(b binding) binding {
	return func(f *Filter, L *lua.LState) int {
		n := b(f, L)
		if ok, _ := L.Get(-1).(lua.LBool); ok {
			L.SetGlobal("Changed", lua.LTrue)
		}
		return n
	}
}

// checkText returns argument n as text: a string, or a number in its
// shortest form; anything else is an argument error.
func checkText(L *lua.LState, n int) string {
	switch v := L.Get(n).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	L.TypeError(n, lua.LTString)
	return ""
}

// optText is checkText with nil (or an absent argument) as "".
func optText(L *lua.LState, n int) string {
	if L.Get(n) == lua.LNil {
		return ""
	}
	return checkText(L, n)
}

// checkInt returns argument n as an integer: a number (truncated) or a
// decimal string; anything else is an argument error.
func checkInt(L *lua.LState, n int) int {
	if L.Get(n) == lua.LNil {
		L.TypeError(n, lua.LTNumber)
	}
	return optInt(L, n, 0)
}

// optInt returns argument n as an integer, def when absent or nil. A
// decimal string is accepted, as Perl would.
func optInt(L *lua.LState, n int, def int) int {
	switch v := L.Get(n).(type) {
	case *lua.LNilType:
		return def
	case lua.LNumber:
		return int(v)
	case lua.LString:
		if num, err := strconv.Atoi(strings.TrimSpace(string(v))); err == nil {
			return num
		}
	}
	L.TypeError(n, lua.LTNumber)
	return def
}

func bindReplaceWithURL(f *Filter, L *lua.LState) int {
	c := f.context(L)
	ok := c.ActionReplaceWithURL(f.checkPart(L, 1), checkText(L, 2), checkText(L, 3), checkText(L, 4), optText(L, 5), optText(L, 6))
	L.Push(lua.LBool(ok))
	return 1
}

// bindAddPart is action_add_part(entity, type, encoding, data, fname,
// disposition [, offset]); it returns the new part (nil when refused). The
// entity argument is ignored, as in Perl.
func bindAddPart(f *Filter, L *lua.LState) int {
	c := f.context(L)
	p := c.ActionAddPart(checkText(L, 2), optText(L, 3), []byte(checkText(L, 4)), optText(L, 5), optText(L, 6), optInt(L, 7, -1))
	if p == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(f.entity(p))
	return 1
}

// bindAddEntity is action_add_entity(entity [, offset]).
func bindAddEntity(f *Filter, L *lua.LState) int {
	c := f.context(L)
	p := c.ActionAddEntity(f.checkPart(L, 1), optInt(L, 2, -1))
	if p == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(f.entity(p))
	return 1
}

// bindFindPart is find_part(entity, type [, skip_pgp]): the first leaf of
// that type, or nil.
func bindFindPart(f *Filter, L *lua.LState) int {
	p := message.FindPart(f.checkPart(L, 1), checkText(L, 2), perlTrue(L.Get(3)))
	if p == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(f.entity(p))
	return 1
}

// bindCollectParts is collect_parts(entity [, skip_pgp]): it returns the
// leaves as an array instead of filling @FlatParts.
func bindCollectParts(f *Filter, L *lua.LState) int {
	parts := message.CollectParts(f.checkPart(L, 1), perlTrue(L.Get(2)))
	t := L.CreateTable(len(parts), 0)
	for _, p := range parts {
		t.Append(f.entity(p))
	}
	L.Push(t)
	return 1
}
