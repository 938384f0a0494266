// Package dkim is MIMEDefang's md_dkim_sign, md_dkim_verify
// (Mail::MIMEDefang::DKIM) and md_arc_sign (Mail::MIMEDefang::DKIM::ARC),
// docs/reference/filter-api.md §4.11. ARC sealing (arc.go) is
// Mail::DKIM::ARC::Signer's, byte for byte, on the same signer internals.
//
// Signing reproduces what MIMEDefang gets from Perl's Mail::DKIM byte for
// byte: the signature's tag order (v, a, c, d, h, s, bh, b), the header
// list (the message's own fields, in order and spelling, that are in
// Mail::DKIM's default list or the extra list), the canonicalizations of
// its Canonicalization::relaxed and ::simple, and the folding of the b= tag
// by Mail::DKIM::TextWrap (wrap.go). No Go library writes a DKIM-Signature
// in that form (github.com/emersion/go-msgauth orders and folds its tags its
// own way), so the signer is ours; verification, where the form does not
// matter, is go-msgauth's. rsa-sha256, rsa-sha1 and ed25519-sha256 (RFC
// 8463) are supported. Keys are read once per worker (KeyCache).
//
// It never imports package filter (docs/integrations.md).
package dkim
