package filter

// Envelope edits only record a request for the milter; Sender and
// Recipients are not changed. No context check: from Sender and Recipient
// they are applied at end of message, outside a working directory they are
// refused.

// AddRecipient is add_recipient($rcpt): "R<rcpt>" (smfi_addrcpt).
func (c *Context) AddRecipient(rcpt string) bool { return c.WriteResultLine('R', rcpt) }

// DeleteRecipient is delete_recipient($rcpt): "S<rcpt>" (smfi_delrcpt);
// rcpt must match an entry of Recipients exactly, brackets included.
func (c *Context) DeleteRecipient(rcpt string) bool { return c.WriteResultLine('S', rcpt) }

// ChangeSender is change_sender($sender): "f<sender>" (smfi_chgfrom).
func (c *Context) ChangeSender(sender string) bool { return c.WriteResultLine('f', sender) }
