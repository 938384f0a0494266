// Package message is md-worker's model of the message being scanned: what
// MIMEDefang gets from MIME-tools' parse of INPUTMSG plus its own rebuild of
// the body (NEWBODY). It is public so that compiled Go filters can use it.
//
// # Reading
//
// Parse takes INPUTMSG and builds the part tree the way MIMEDefang's
// builtin_create_parser configures MIME::Parser (extract_nested_messages and
// extract_uuencode on, ignore_filename, decode_bodies) followed by
// make_multipart: the top entity
// is always a container; a single-part message is wrapped in a
// multipart/mixed whose only child is the body part (Message.WasMultipart
// tells which). Effective types, default types (text/plain, message/rfc822
// in multipart/digest), boundaries, file names, parameters and transfer
// decodings follow MIME-tools' rules, repairs of broken MIME included; see
// Part.Type and Part.FileName.
//
// enmime is deliberately not used here. MIME-tools decodes only the transfer
// encoding and never the charset, keeps parameter values exactly as
// MIME::Field::ParamVal reads them (including its handling of bad tokens and
// RFC 2231 continuations), and repairs bad base64/quoted-printable in its
// own lenient way; enmime converts charsets, re-detects types and repairs
// differently, and gives no byte offsets. So the tree and the offsets come
// from a small raw MIME scanner in this package (a line-for-line port of
// MIME::Parser::Reader's boundary logic), and the decoders are small
// standard-library based ports of MIME::Decoder, MIME::Base64,
// MIME::QuotedPrint, MIME::Words and MIME::WordDecoder; golang.org/x/text
// converts encoded-word charsets to UTF-8 for file names.
//
// Nothing is copied or decoded at parse time: every Part slices the raw
// message, and Body / DecodeTo decode on demand.
//
// # Writing
//
// MIMEDefang rewrites the body only when a filter changed something. The
// architecture's rule is that enmime (or any encoder) never rewrites mail:
// Message.WriteBody splices. Parts the filter did not touch are copied byte
// for byte from INPUTMSG; a container whose children changed keeps its
// header, boundary, preamble and epilogue and gets new delimiter lines; only
// changed or added parts are encoded anew (AppendText, AppendHTML and SetBody
// re-encode with the part's own transfer encoding; NewPart encodes as
// action_add_part does). An unmodified tree writes exactly the raw body.
//
// The rebuild helpers follow mimedefang.pl and Mail::MIMEDefang::MIME:
// AddParts (process_added_parts), Collapse (the make_singlepart loop of
// do_scan), RemoveRedundantHTML, FindPart, CollectParts and TextLeaves (the
// boilerplate selection).
//
// # Memory
//
// Parse allocates per part (a Part, its header field list and the child
// slices) and never per body byte. WriteBody of an unmodified or partly
// modified tree streams untouched parts straight from the raw slice through
// a 32 KiB buffer. TestMemoryBound parses and rewrites a 20 MB message with
// a 15 MB base64 attachment (and a 5 MB one) after editing its small text
// part: the heap allocated by Parse + walk + edit + WriteBody (to
// io.Discard) is bounded by 1 MiB besides the raw message itself (measured:
// about 75 KB, 87 allocations), and DecodeTo of the 11 MB decoded
// attachment by 1 MiB (measured: 32 KB, the copy buffer). Body() of a leaf
// and edits (AppendText, AppendHTML) hold that leaf's decoded body.
//
// The cost per MIME entity is about 600 bytes (measured on 100000 empty
// parts), so a hostile message made of tiny parts costs over a hundred times
// its size; a worker that must bound that sets Limits.MaxParts, which is
// MIMEDefang's $MaxMIMEParts.
//
// # Differences from MIME-tools
//
// Over the whole corpus the tree (depth, type, file name, decoded body) is
// identical to MIME-tools', and so it is over 600 randomly broken copies of
// it (TestDifferential) and over the corpus rebuilt by a filter
// (TestRewrittenMatchesMIMETools); extract_uuencode and max_parts counting
// are reproduced too, except where MIME-tools hides from the filter what a
// mail client shows (repair.go; docs/compatibility.md, "Broken MIME"):
//
//   - A part whose header runs into the next boundary without a blank line
//     is read as mail clients read it (the header ends at its first line
//     that is not a field), not as MIME-tools' empty text/plain.
//   - message/* parts of other types than rfc822, external-body, partial
//     and delivery-status are parsed as attached messages.
//   - Part.Names lists every file name any reader could take from a part;
//     the filter's re_match family matches all of them.
//   - A part whose header needed a repair (Part.Repaired) is written back
//     in normalized form, so the delivered message shows what the filter
//     read; a message with such a part is always rewritten.
//
// The other deliberate deviations, none of which the corpus reaches
// (TestConformance carries a per-message table for any that would):
//
//   - BinHex: MIME-tools decodes a "(This file must be converted with
//     BinHex" body and the binhex / x-uuencode transfer encodings; here such
//     bodies stay as they are (passed through undecoded). BinHex is extinct
//     in mail and virus scanners see Work/INPUTMSG anyway.
//   - There is a nesting limit (Limits.MaxDepth, ErrTooDeep); MIME-tools
//     recurses without bound.
//   - Charset names for encoded words in file names are looked up in
//     golang.org/x/text's IANA index instead of Perl's Encode; a name only
//     one of them knows decodes in one and is dropped in the other.
//   - RFC 2231 pieces with the same number (name*0 twice, name*0 and
//     name*x) are joined in the order they appear; MIME-tools joins them in
//     Perl hash order, which changes from run to run.
//   - Boundaries generated for make_multipart, AddParts and NewMultipart
//     follow MIME::Entity's make_boundary pattern; the values differ.
//   - Output is spliced, not printed by MIME::Entity: untouched parts keep
//     their exact bytes (MIME-tools re-folds headers and re-encodes every
//     body), changed containers keep their preamble and epilogue, and new
//     delimiter lines are "--boundary" without trailing blanks.
//   - AddParts wraps a top entity that is multipart/mixed only by its
//     header (a multipart without boundary, a leaf) instead of calling
//     add_part on a leaf, which MIME-tools would then silently not print.
//
// This package does not run filters, write RESULTS or talk to the milter;
// it only models and rewrites the message.
//
// The conformance corpus lives in worker/testdata/corpus; regenerate it with
// `go generate ./message/` from worker/. TestConformance compares Parse with
// MIME-tools (testdata/mimetools-dump.pl) over every message. The unit
// tests do not run perl: they compare with the oracles' output recorded in
// testdata/oracles by testdata/record-oracles.sh (run it after changing
// the corpus, the tests' inputs or the writer; a test whose inputs no
// longer match the recording says so), and the integration test
// TestOraclesMatchRecordings checks the recordings against the real
// MIME-tools and HTML::Parser.
package message

//go:generate go run ../internal/corpusgen -dir ../testdata/corpus
